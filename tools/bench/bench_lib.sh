# Shared by the feed benchmarks (feeds_bench.sh, web_bench.sh): a process's CPU seconds so far (user + system, all its
# threads) and arithmetic in awk.
tick=$(getconf CLK_TCK)
cpu() { awk -v t="$tick" '{print ($14 + $15) / t}' "/proc/$1/stat"; }
calc() { awk "BEGIN {print $1}"; }
