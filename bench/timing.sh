# Sourced by the benchmarks. `measure NAME COMMAND...` runs COMMAND $rounds times under
# /usr/bin/time and prints one line "NAME WALL_S PEAK_RSS_KB USER_S SYS_S" per run; `medians FILE`
# prints each name's median wall time, CPU time and peak RSS from such lines, and each name's
# ratios to the last name's.
measure() {
    local name=$1; shift
    for _ in $(seq "$rounds"); do
        /usr/bin/time -f "$name %e %M %U %S" "$@" 2>&1 >/dev/null | tail -1
    done
}

medians() {
    python3 - "$1" <<'PY'
import statistics, sys
rows = [l.split() for l in open(sys.argv[1])]
names = list(dict.fromkeys(r[0] for r in rows))
med = lambda name, i: statistics.median(float(r[i]) if i < 3 else float(r[3]) + float(r[4]) for r in rows if r[0] == name)
print(f"{'':18}{'wall s':>10}{'CPU s':>10}{'peak RSS MiB':>14}   (medians of {sum(r[0] == names[-1] for r in rows)} runs)")
for name in names:
    print(f"{name:18}{med(name, 1):10.3f}{med(name, 3):10.3f}{med(name, 2) / 1024:14.0f}")
for name in names[:-1]:
    ratio = lambda i: med(name, i) / med(names[-1], i) if med(names[-1], i) else float("nan")
    print(f"{name} / {names[-1]}: wall {ratio(1):.3f}, CPU {ratio(3):.3f}, peak RSS {ratio(2):.2f}")
PY
}
