#!/bin/bash
# instructions per call of build_invocation_body (mode 0) and map_invocation_response (mode 1)
for mode in 0 1; do
  a=$(valgrind --tool=callgrind --callgrind-out-file=/dev/null ./$1 1000 $mode 2>&1 | grep -oP 'Collected : \K\d+')
  b=$(valgrind --tool=callgrind --callgrind-out-file=/dev/null ./$1 11000 $mode 2>&1 | grep -oP 'Collected : \K\d+')
  echo "$1 mode $mode per call $(( (b - a) / 10000 ))"
done
