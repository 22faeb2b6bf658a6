#!/bin/sh
# chassis_control for ipmi_sim: "<script> <statefile> <dev> get power" prints power:0|1,
# "... set power 0|1" (and "set shutdown 1") change it. Same logic as the test harness's.
st="$1"; shift; shift
[ -f "$st" ] || echo 0 > "$st"
case "$1" in
get) shift; for w in "$@"; do case "$w" in
       power) echo "power:$(cat "$st")" ;;
       boot) echo "boot:none" ;;
     esac; done ;;
set) case "$2" in
       power) echo "$3" > "$st.tmp" && mv "$st.tmp" "$st" ;;
       shutdown) echo 0 > "$st.tmp" && mv "$st.tmp" "$st" ;;
     esac ;;
esac
exit 0
