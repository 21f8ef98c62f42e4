package main

const sysSendmmsg = 307
