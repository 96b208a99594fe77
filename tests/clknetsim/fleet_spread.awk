# The compute nodes' spread in clknetsim's offset log (one line per simulated
# second; field n is node n's true clock error, s). Used by fleet.sh.
#
# Variables: first, last (the compute nodes' node numbers), warmup and up
# (s): line t is the state after t simulated seconds; lines t < warmup are
# skipped, warmup <= t < up are the phase "before" (the upstream answers),
# t >= up the phase "after".
#
# Output, in microseconds, one "key value" a line: max_before and max_after,
# the largest spread (max - min over the compute nodes, i.e. the largest
# pairwise offset) of the phase; rms_before and rms_after, the RMS over the
# phase's seconds of the spread; seconds_before and seconds_after, how many
# seconds each phase had.
BEGIN { FS = "\t" }
{
  t = NR
  if (t < warmup) next
  phase = t < up ? "before" : "after"
  lo = $first; hi = $first
  for (n = first + 1; n <= last; n++) {
    if ($n < lo) lo = $n
    if ($n > hi) hi = $n
  }
  spread = (hi - lo) * 1e6
  if (spread > max[phase]) max[phase] = spread
  sum2[phase] += spread * spread
  count[phase]++
}
END {
  for (p = 0; p < 2; p++) {
    phase = p == 0 ? "before" : "after"
    printf "max_%s %.3f\n", phase, max[phase] + 0
    printf "rms_%s %.3f\n", phase, (count[phase] > 0 ? sqrt(sum2[phase] / count[phase]) : 0)
    printf "seconds_%s %d\n", phase, count[phase]
  }
}
