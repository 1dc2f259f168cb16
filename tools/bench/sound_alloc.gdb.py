# gdb script for tools/bench/sound_alloc.sh: count heap allocations made on the audio thread
# ("thud-audio"), grouped by call site, and print them when the program exits.
import os
import gdb

counts = {}
# The thread to watch (sound_alloc.sh capture: "thud-audio-in").
THREAD = os.environ.get("THUD_ALLOC_THREAD", "thud-audio")

class AllocBreak(gdb.Breakpoint):
    def stop(self):
        thread = gdb.selected_thread()
        if thread is None or thread.name != THREAD:
            return False
        frames = []
        f = gdb.newest_frame()
        while f is not None and len(frames) < 8:
            frames.append(f.name() or "??")
            f = f.older()
        key = " <- ".join(frames)
        counts[key] = counts.get(key, 0) + 1
        return False

def report(event):
    total = sum(counts.values())
    print("sound_alloc: %d heap allocations on thread %s" % (total, THREAD))
    for key, n in sorted(counts.items(), key=lambda kv: -kv[1]):
        print("sound_alloc: %6d  %s" % (n, key))

gdb.execute("set pagination off")
gdb.execute("set breakpoint pending on")
for symbol in ["malloc", "calloc", "realloc", "posix_memalign", "aligned_alloc"]:
    AllocBreak(symbol)
gdb.events.exited.connect(report)
gdb.execute("run")
