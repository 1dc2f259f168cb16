#!/usr/bin/env python3
"""End-to-end latency of a network feed, frame sent -> line out, for thud next to ffmpeg on the same stream.

A 640x360 30 fps H.264 MPEG-TS clip is made with ffmpeg; this script sends it over UDP to 127.0.0.1 itself, each TS
packet at the wall-clock time its programme clock (PCR) says, so the moment every frame leaves is known: step k's time
k/12 s after the first frame left is "when step k happened" at the camera. The receiver's output is timestamped as it
arrives: thud's JSON line for step k (`thud predict udp://…`), or ffmpeg's k-th 12 Hz frame (`ffmpeg -i udp://…
-vf fps=12,scale=96:96 -f rawvideo -`: decoding and the 12 Hz frames, no model). Latency_k = arrival of k's output -
(send time of the first frame + k/12). thud's includes its 12 Hz clock (a step is due once a later frame came) and the
bundled model's one-step output delay (83 ms); ffmpeg's fps filter waits for a later frame too.

The stream carries a sound (a beep a second, AAC) so that `thud predict --learn` (issue 38) is measured on it too,
side by side: the same stream while the feed records itself and its learner (thud-train adapt --follow, niced) runs
rounds on what it recorded (4 s segments, a round every 8 new seconds). Each line also counts the steps that never
came out (skipped: none may be).

usage: tools/bench/feeds_latency.py [SECONDS] (default 20); THUD=.build/release/thud MODEL=models/default.thud
"""
import os, socket, statistics, subprocess, sys, tempfile, threading, time

seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 20
root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
thud = os.environ.get("THUD", os.path.join(root, ".build/release/thud"))
model = os.environ.get("MODEL", os.path.join(root, "models/default.thud"))
work = tempfile.mkdtemp(prefix="thud-latency-")
clip = os.path.join(work, "clip.ts")
subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-f", "lavfi", "-i", "testsrc2=size=640x360:rate=30",
                "-f", "lavfi", "-i", "sine=frequency=1000:beep_factor=4:sample_rate=48000",
                "-t", str(seconds), "-c:a", "aac", "-c:v", "libx264", "-preset", "veryfast", "-tune", "zerolatency", "-g", "30",
                "-b:v", "1M", "-pix_fmt", "yuv420p", "-f", "mpegts", clip], check=True)
data = open(clip, "rb").read()
packets = [data[i:i + 188] for i in range(0, len(data) - 187, 188)]


def pcr(p):
    """The packet's PCR in seconds, or None."""
    if p[0] != 0x47 or not (p[3] & 0x20) or p[4] < 7 or not (p[5] & 0x10):
        return None
    base = (p[6] << 25) | (p[7] << 17) | (p[8] << 9) | (p[9] << 1) | (p[10] >> 7)
    return base / 90000.0


def first_video_pes(ps):
    """The index of the packet that starts the first video frame."""
    for i, p in enumerate(ps):
        if p[1] & 0x40 and p[3] & 0x10:   # payload unit start with payload
            off = 4 + (1 + p[4] if p[3] & 0x20 else 0)
            pes = p[off:]
            if pes[:3] == b"\x00\x00\x01" and pes[3] >= 0xE0:
                return i
    return 0


# Each packet's send offset: the latest PCR at or before it (TS from ffmpeg carries one every ~20 ms), from the first.
offsets, last = [], None
for p in packets:
    v = pcr(p)
    if v is not None:
        last = v
    offsets.append(last)
pcr0 = next(v for v in offsets if v is not None)
offsets = [(v if v is not None else pcr0) - pcr0 for v in offsets]
# A frame leaves with its packets (the muxer sends it ahead of its presentation time by its delay, as a camera
# does): the first frame at the offset of the packet that starts it, frame k/12 s later about k/12 after that.
first_offset = offsets[first_video_pes(packets)]


def send(port):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    start = time.monotonic()
    i = 0
    while i < len(packets):
        due = start + offsets[i]
        now = time.monotonic()
        if due > now:
            time.sleep(due - now)
        chunk = packets[i:i + 7]
        s.sendto(b"".join(chunk), ("127.0.0.1", port))
        i += 7
    return start


def measure(command, reader):
    port = 40000 + os.getpid() % 10000
    proc = subprocess.Popen(command(port), stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    arrivals = []
    t = threading.Thread(target=reader, args=(proc.stdout, arrivals))
    t.start()
    time.sleep(1.5)
    start = send(port)
    time.sleep(1.0)
    proc.terminate()
    t.join()
    proc.wait()
    first = start + first_offset
    return [k for k, _ in arrivals], [a - (first + k / 12.0) for k, a in arrivals]


def thud_lines(out, arrivals):
    import json
    for line in out:
        now = time.monotonic()
        o = json.loads(line)
        if "envelope" in o:
            arrivals.append((round(o["t"] * 12), now))


def ffmpeg_frames(out, arrivals):
    k = 0
    while True:
        b = out.read(96 * 96)
        if len(b) < 96 * 96:
            return
        arrivals.append((k, time.monotonic()))
        k += 1


def figures(name, measured):
    steps, lat = measured
    skipped = (max(steps) + 1 - len(set(steps))) if steps else 0
    lat = sorted(x * 1000 for x in lat[24:])   # past the first 2 s (probing, the first keyframe: start-up, not steady state)
    p99 = lat[min(len(lat) - 1, round(0.99 * (len(lat) - 1)))]
    print(f"{name:40s} {len(lat):6d} steps ({skipped} skipped)  frame sent -> out: median {statistics.median(lat):6.1f} ms, p99 {p99:6.1f} ms, min {lat[0]:6.1f} ms", flush=True)


print(f"one 640x360 30 fps H.264 feed over UDP on 127.0.0.1, {seconds:.0f} s, sent by its PCR; model {os.path.basename(model)}")
figures("thud predict (decode, clock, model)", measure(lambda p: [thud, "predict", "--model", model, "--timeout", "3", f"udp://127.0.0.1:{p}"], thud_lines))
learn = os.path.join(work, "learn")
figures("thud predict --learn (recording, learner)", measure(lambda p: [thud, "predict", "--model", model, "--timeout", "3",
        "--learn", learn, "--learn-segment-seconds", "4", "--learn-every", "8", "--learner-option", "--min-seconds",
        "--learner-option", "8", f"udp://127.0.0.1:{p}"], thud_lines))
logs = [os.path.join(learn, d, "learning.jsonl") for d in (os.listdir(learn) if os.path.isdir(learn) else [])]
rounds = sum(len(open(f).readlines()) for f in logs if os.path.exists(f))
print(f"{'':40s} (the learner ran {rounds} round(s) meanwhile; its folder {learn})")
# ffmpeg keeps what it probed (no nobuffer), so its first 12 Hz frame is the stream's first step, as thud's t is.
figures("ffmpeg -vf fps=12,scale=96:96 (no model)", measure(lambda p: ["ffmpeg", "-hide_banner", "-loglevel", "error",
        "-probesize", "500000", "-analyzeduration", "1500000", "-timeout", "3000000", "-i", f"udp://127.0.0.1:{p}",
        "-vf", "fps=12,scale=96:96", "-pix_fmt", "gray", "-f", "rawvideo", "-"], ffmpeg_frames))
