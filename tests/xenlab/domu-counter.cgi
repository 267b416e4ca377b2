#!/bin/sh
# CGI of the domU service: the current counter value.
printf 'Content-Type: text/plain\r\n\r\n'
cat /tmp/n
