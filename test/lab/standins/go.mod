module iot-udp-ingress/test/lab/standins

go 1.22
