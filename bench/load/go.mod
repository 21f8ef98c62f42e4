module iot-udp-ingress/bench/load

go 1.22
