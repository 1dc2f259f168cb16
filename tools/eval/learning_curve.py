#!/usr/bin/env python3
"""Issue 38 point 5: how fast a feed learns its own scene, shown on real recordings replayed as live feeds.

Each SCENE (one or more recordings of one scene, joined back to back) is made into one MPEG-TS file with its original
sound (H.264 with a camera's GOP of 2 s, AAC), scored once as a file with the bundled model (`thud eval`: the flat
line, and the target envelope and true hits every score here is measured against), then sent in real time over UDP
(`ffmpeg -re -c copy`) into `thud watch NAME=udp://… --learn WORK/learn`: the feed records itself, its learner
(`thud-train adapt --follow`) re-adapts as seconds arrive, and each model it writes swaps in. The predicted lines are
cut into stretches and scored against the recording's audio: r and hit F1 (thud's own matching, ±1 step) per stretch,
against the seconds of the feed seen before the stretch. The last third of every scene, pooled over the scenes, is
the issue's bar (learned only from what came before it in the same run).

usage: tools/eval/learning_curve.py WORK SCENE [SCENE ...]   (RESCORE=1: score the lines of an earlier run again)
  SCENE: NAME=REC1[+REC2...] (recordings joined in that order), or one recording (named after it).
  environment: THUD_BIN (folder of thud and thud-train; default .build/release), MODEL (default models/default.thud),
  SEGMENT (recorded segment seconds, default 5), EVERY (learner --every, default 10), STRETCH (default 6 s),
  LEARNER_OPTIONS (more learner arguments, e.g. "--min-seconds 10").
Writes WORK/curve.tsv, WORK/curve.png (when matplotlib is there), WORK/NAME/{scene.ts,lines.jsonl,learn.err,eval.json}.
"""
import json
import math
import os
import signal
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import thud_tools  # noqa: E402

REPO = thud_tools.REPO


def free_udp_port():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def pearson(a, b):
    n = len(a)
    if n < 3:
        return None
    ma, mb = sum(a) / n, sum(b) / n
    va = sum((x - ma) ** 2 for x in a)
    vb = sum((y - mb) ** 2 for y in b)
    if va <= 0 or vb <= 0:
        return None
    return sum((x - ma) * (y - mb) for x, y in zip(a, b)) / math.sqrt(va * vb)


def fisher_mean(rs):
    rs = [max(-0.999999, min(0.999999, r)) for r in rs if r is not None]
    if not rs:
        return None
    return math.tanh(sum(math.atanh(r) for r in rs) / len(rs))


def make_scene(name, recordings, out):
    """The recordings back to back as one MPEG-TS file: 640 px wide, 2 s GOP, AAC 48 kHz mono."""
    os.makedirs(out, exist_ok=True)
    ts = os.path.join(out, "scene.ts")
    if os.path.exists(ts):
        return ts
    args = ["ffmpeg", "-hide_banner", "-loglevel", "error", "-y"]
    for r in recordings:
        args += ["-i", r]
    n = len(recordings)
    parts = "".join(f"[{i}:v]scale=640:-2,setsar=1,fps=30[v{i}];[{i}:a]aresample=48000,aformat=channel_layouts=mono[a{i}];" for i in range(n))
    joined = "".join(f"[v{i}][a{i}]" for i in range(n))
    args += ["-filter_complex", parts + f"{joined}concat=n={n}:v=1:a=1[v][a]", "-map", "[v]", "-map", "[a]",
             "-c:v", "libx264", "-preset", "veryfast", "-g", "60", "-pix_fmt", "yuv420p", "-c:a", "aac", "-b:a", "128k",
             "-f", "mpegts", ts + ".tmp"]
    subprocess.run(args, check=True)
    os.rename(ts + ".tmp", ts)
    return ts


def evaluate(thud, model, scene_dir):
    """thud eval of the scene file with the model: target, true hits, and the model's own envelope and hits."""
    data = os.path.join(scene_dir, "file")
    os.makedirs(data, exist_ok=True)
    link = os.path.join(data, "scene.ts")
    if not os.path.exists(link):
        os.symlink(os.path.join(scene_dir, "scene.ts"), link)
    with open(os.path.join(data, "split.tsv"), "w") as f:
        f.write("file\tsplit\nscene.ts\ttest\n")
    out = os.path.join(scene_dir, "eval.json")
    subprocess.run([thud, "eval", data, "--split", "test", "--classes", "all", "--model", model, "--out", out],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    clip = json.load(open(out))["clips"][0]
    return clip, clip["predictors"]["model"]


def replay(thud, model, name, ts, scene_dir, learn_dir, segment, every, learner_options):
    """Sends the scene in real time into `thud watch --learn`; returns the feed's lines (step, envelope, hit) and events."""
    lines_path = os.path.join(scene_dir, "lines.jsonl")
    err_path = os.path.join(scene_dir, "learn.err")
    sent = 0
    if os.environ.get("RESCORE") and os.path.exists(lines_path):
        return read_lines(lines_path) + (sent,)
    port = free_udp_port()
    cmd = [thud, "watch", f"{name}=udp://127.0.0.1:{port}", "--model", model, "--learn", learn_dir,
           "--learn-segment-seconds", str(segment), "--learn-every", str(every), "--timeout", "8"]
    for o in learner_options:
        cmd += ["--learner-option", o]
    with open(lines_path, "w") as out, open(err_path, "w") as err:
        watcher = subprocess.Popen(cmd, stdout=out, stderr=err)
        time.sleep(1.5)
        sent = subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-re", "-i", ts, "-c", "copy",
                               "-f", "mpegts", f"udp://127.0.0.1:{port}?pkt_size=1316"]).returncode
        time.sleep(2)
        watcher.send_signal(signal.SIGINT)
        try:
            watcher.wait(timeout=120)
        except subprocess.TimeoutExpired:
            watcher.kill()
            watcher.wait()
    return read_lines(lines_path) + (sent,)


def read_lines(path):
    """A feed's lines: step → (envelope, hit at this step), and the events. A line's "hit" is flagged on the step
    after the hit's peak (the picker confirms a peak when the next step does not rise above it), and `thud eval`
    counts a hit at its peak: the flag is moved back one step here so both count alike."""
    steps, events, hits = {}, [], set()
    for line in open(path):
        obj = json.loads(line)
        if "event" in obj:
            events.append(obj)
        else:
            k = int(round(obj["t"] * 12))
            steps[k] = obj["envelope"]
            if obj["hit"]:
                hits.add(k - 1)
    return {k: (e, k in hits) for k, e in steps.items()}, events


def best_offset(live, reference, first_model_step):
    """The step offset between the stream's numbering and the file's: where the live envelope before the first swap
    (the same model as the file's run) matches the file's best."""
    best, best_err = 0, None
    for off in range(-6, 7):
        pairs = [(live[k][0], reference[k + off]) for k in live if k < first_model_step and 0 <= k + off < len(reference)]
        if len(pairs) < 24:
            continue
        err = sum((a - b) ** 2 for a, b in pairs) / len(pairs)
        if best_err is None or err < best_err:
            best, best_err = off, err
    return best, best_err


def main():
    if len(sys.argv) < 3:
        print(__doc__)
        sys.exit(64)
    work = os.path.abspath(sys.argv[1])
    bindir = os.environ.get("THUD_BIN", os.path.join(REPO, ".build", "release"))
    thud = os.path.join(bindir, "thud")
    model = os.path.abspath(os.environ.get("MODEL", os.path.join(REPO, "models", "default.thud")))
    segment = float(os.environ.get("SEGMENT", "5"))
    every = float(os.environ.get("EVERY", "10"))
    stretch = float(os.environ.get("STRETCH", "6"))
    learner_options = os.environ.get("LEARNER_OPTIONS", "").split()
    os.makedirs(work, exist_ok=True)
    rows = []
    last_third = {"learned": {"r": [], "tp": 0, "fp": 0, "fn": 0}, "bundled": {"r": [], "tp": 0, "fp": 0, "fn": 0}}
    for spec in sys.argv[2:]:
        if "=" in spec:
            name, recs = spec.split("=", 1)
        else:
            name, recs = os.path.splitext(os.path.basename(spec))[0], spec
        recordings = [os.path.abspath(r) for r in recs.split("+")]
        scene_dir = os.path.join(work, name)
        ts = make_scene(name, recordings, scene_dir)
        clip, bundled = evaluate(thud, model, scene_dir)
        target, truth = clip["target"], clip["true_hits"]
        n = len(target)
        learn_dir = os.path.join(work, "learn")
        steps, events, sent = replay(thud, model, name, ts, scene_dir, learn_dir, segment, every, learner_options)
        swaps = [e for e in events if e.get("event") == "model"]
        first_swap = int(round(swaps[0]["t"] * 12)) if swaps else n
        offset, err = best_offset(steps, bundled["envelope"], first_swap)
        print(f"{name}: {n / 12:.1f} s, {len(truth)} true hits; {len(steps)} steps came out (sender status {sent}); "
              f"{len(swaps)} model swap(s) at " + ", ".join(f"{e['t']:.1f} s ({e.get('learned_s')} s learned)" for e in swaps)
              + f"; stream→file step offset {offset} (mean square {err if err is None else round(err, 6)})", flush=True)
        live_env, live_hits = [None] * n, []
        for k, (e, h) in steps.items():
            j = k + offset
            if 0 <= j < n:
                live_env[j] = e
                if h:
                    live_hits.append(j)
        per = int(round(stretch * 12))
        for start in range(0, n, per):
            end = min(n, start + per)
            if end - start < per // 2:
                break   # a scrap at the end: too few steps to say anything
            idx = [j for j in range(start, end) if live_env[j] is not None]
            r = pearson([live_env[j] for j in idx], [target[j] for j in idx])
            rb = pearson(bundled["envelope"][start:end], target[start:end])
            t_true = [h for h in truth if start <= h < end]
            m = thud_tools.match_hits([([h for h in live_hits if start <= h < end], t_true)])[0]
            mb = thud_tools.match_hits([([h for h in bundled["hits"] if start <= h < end], t_true)])[0]
            in_force = [e for e in swaps if int(round(e["t"] * 12)) + offset <= start]
            learned = in_force[-1].get("learned_s") if in_force else 0
            rows.append((name, start / 12, end / 12, len(idx), len(t_true), r, m["f1"], rb, mb["f1"], learned))
        third = n * 2 // 3
        idx = [j for j in range(third, n) if live_env[j] is not None]
        t_true = [h for h in truth if h >= third]
        for key, env, hits in (("learned", [live_env[j] for j in idx], [h for h in live_hits if h >= third]),
                               ("bundled", [bundled["envelope"][j] for j in idx], [h for h in bundled["hits"] if h >= third])):
            last_third[key]["r"].append(pearson(env, [target[j] for j in idx]))
            m = thud_tools.match_hits([(hits, t_true)])[0]
            for c in ("tp", "fp", "fn"):
                last_third[key][c] += m[c]
            print(f"  last third ({(n - third) / 12:.1f} s, {len(t_true)} true hits), {key}: r {last_third[key]['r'][-1]}, hit F1 {m['f1']}", flush=True)
    with open(os.path.join(work, "curve.tsv"), "w") as f:
        f.write("scene\tfrom_s\tto_s\tsteps\ttrue_hits\tr_learning\tf1_learning\tr_bundled\tf1_bundled\tlearned_s_in_force\n")
        for row in rows:
            f.write("\t".join("" if v is None else (f"{v:.4f}" if isinstance(v, float) else str(v)) for v in row) + "\n")
    for key in ("learned", "bundled"):
        s = last_third[key]
        f1 = thud_tools.f1_of(s["tp"], s["fp"], s["fn"])
        print(f"last thirds pooled over {len(s['r'])} scene(s), {key}: r (Fisher mean) {fisher_mean(s['r'])}, "
              f"hit F1 {f1} (tp {s['tp']}, fp {s['fp']}, fn {s['fn']})")
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed (pip install matplotlib): curve.tsv only")
        return
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for ax, col, bcol, title in ((axes[0], 5, 7, "r"), (axes[1], 6, 8, "hit F1 (±1 step)")):
        for name in dict.fromkeys(r[0] for r in rows):
            pts = [(r[1], r[col]) for r in rows if r[0] == name and r[col] is not None]
            base = [(r[1], r[bcol]) for r in rows if r[0] == name and r[bcol] is not None]
            line, = ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", label=f"{name} learning")
            ax.plot([p[0] for p in base], [p[1] for p in base], linestyle="--", color=line.get_color(), alpha=0.5,
                    label=f"{name} bundled")
        ax.set_xlabel("seconds of the feed seen before the stretch")
        ax.set_title(title)
        ax.set_ylim(-0.2 if col == 5 else 0, 1)
        ax.grid(alpha=0.3)
    axes[1].legend(fontsize=6)
    fig.tight_layout()
    fig.savefig(os.path.join(work, "curve.png"), dpi=110)
    print(f"wrote {os.path.join(work, 'curve.png')}")


if __name__ == "__main__":
    main()
