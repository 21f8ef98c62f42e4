module iot-udp-ingress/lab/standins

go 1.22
