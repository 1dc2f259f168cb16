#!/usr/bin/env python3
"""Screenshot of a live page after it has run for a while: headless Chromium driven over the DevTools protocol on a
pipe (--remote-debugging-pipe), so that its scripts and live stream run for real seconds before the capture (the
--screenshot switch captures as soon as the page has loaded). Python's standard library only.

    tools/feeds/page_shot.py URL OUT.png [--wait S] [--size WxH]
"""
import argparse, base64, json, os, shutil, subprocess, sys, tempfile, time

p = argparse.ArgumentParser()
p.add_argument("url"); p.add_argument("out")
p.add_argument("--wait", type=float, default=5); p.add_argument("--size", default="1280x860")
a = p.parse_args()
w, h = (int(v) for v in a.size.split("x"))
browser = shutil.which("chromium") or shutil.which("chromium-browser")
if not browser:
    sys.exit("page_shot.py: chromium not found (tools/setup.sh installs it)")
to_r, to_w = os.pipe(); from_r, from_w = os.pipe()
profile = tempfile.mkdtemp()
# The browser reads commands on fd 3 and writes replies on fd 4.
child = subprocess.Popen([browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                          "--remote-debugging-pipe", f"--user-data-dir={profile}", f"--window-size={w},{h}", "about:blank"],
                         pass_fds=(3, 4), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                         preexec_fn=lambda: (os.dup2(to_r, 3), os.dup2(from_w, 4)))
os.close(to_r); os.close(from_w)
buf, next_id = b"", 0

def call(method, params=None, session=None):
    global buf, next_id
    next_id += 1
    msg = {"id": next_id, "method": method, "params": params or {}}
    if session: msg["sessionId"] = session
    os.write(to_w, json.dumps(msg).encode() + b"\0")
    while True:
        while b"\0" not in buf:
            chunk = os.read(from_r, 1 << 20)
            if not chunk: sys.exit(f"page_shot.py: chromium closed its pipe during {method}")
            buf += chunk
        one, buf = buf.split(b"\0", 1)
        reply = json.loads(one)
        if reply.get("id") == next_id:
            if "error" in reply: sys.exit(f"page_shot.py: {method}: {reply['error']}")
            return reply.get("result", {})

try:
    target = call("Target.createTarget", {"url": a.url})["targetId"]
    session = call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
    call("Emulation.setDeviceMetricsOverride", {"width": w, "height": h, "deviceScaleFactor": 1, "mobile": False}, session)
    time.sleep(a.wait)
    png = base64.b64decode(call("Page.captureScreenshot", {"format": "png"}, session)["data"])
    with open(a.out + ".partial", "wb") as f: f.write(png)
    os.replace(a.out + ".partial", a.out)
    print(a.out)
finally:
    child.kill(); child.wait(); shutil.rmtree(profile, ignore_errors=True)
