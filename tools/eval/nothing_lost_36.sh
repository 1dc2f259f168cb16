#!/usr/bin/env bash
# Issue 36's reproductions ("Nothing lost, nothing hangs", round two), one section per point, on the release build:
# run it after `swift build -c release` and read what each prints (the closing note of that stop lists the output).
#   tools/eval/nothing_lost_36.sh            # work folder W=/tmp/thud-36 unless set; needs ffmpeg and python3 + numpy
set -u
cd "$(dirname "$0")/../.."
ROOT=$PWD
B=$ROOT/.build/release
W=${W:-/tmp/thud-36}; rm -rf $W; mkdir -p $W; cd $W
say() { echo; echo "### $*"; }
$B/thud-synth generate --out $W/D --train 4 --validation 2 --test 4 --seed 3 >/dev/null 2>&1
say "1. diverged run: good.thud untouched"
cp $ROOT/models/default.thud good.thud; before=$(sha256sum < good.thud)
$B/thud-train $W/D --learning-rate 1e30 --out good.thud --cache $W/cache 2>&1 | grep -E "^epoch|thud-train:"; echo "exit ${PIPESTATUS[0]}"
[ "$before" = "$(sha256sum < good.thud)" ] && echo "good.thud sha256 unchanged" || echo "good.thud CHANGED"
ls good.thud* ; $B/thud predict --model good.thud $ROOT/models/sample.mp4 | head -2
say "2. interrupted render: no temporary files"
ffmpeg -hide_banner -loglevel error -y -f lavfi -i testsrc2=size=320x240:rate=25 -f lavfi -i sine -t 40 -c:v libx264 -preset ultrafast -c:a aac long.mkv
for sig in TERM INT HUP; do timeout -s $sig 3 $B/thud render long.mkv --out o-$sig.mp4 --gif; echo "SIG$sig: exit $?"; done
ls -a | grep -E "tmp|^o-" || echo "no temporary files, no outputs"
say "3. long-GOP stream"
ffmpeg -hide_banner -loglevel error -y -f lavfi -i testsrc=size=320x240:rate=30 -f lavfi -i sine -t 6 -c:v libx264 -c:a aac c.mp4
P=47311; ($B/thud predict --timeout 3 udp://127.0.0.1:$P > lines.jsonl 2> err.txt; echo "exit $?" >> err.txt) & sleep 1
ffmpeg -hide_banner -loglevel error -re -i c.mp4 -c copy -f mpegts "udp://127.0.0.1:$P?pkt_size=1316"; wait
echo "$(wc -l < lines.jsonl) lines"; cat err.txt
P=47312; ($B/thud predict --timeout 2 udp://127.0.0.1:$P 2>&1; echo "exit $?") & sleep 1
python3 -c "
import socket,os,time
s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)
for i in range(5): s.sendto(os.urandom(1316),('127.0.0.1',$P)); time.sleep(0.1)"; wait
say "4. one frame held for days"
ffmpeg -hide_banner -loglevel error -y -f lavfi -i "testsrc=size=160x96:rate=25:duration=0.04" -f lavfi -i "sine=f=440:d=2" -c:v libx264 -pix_fmt yuv420p -c:a aac -use_editlist 0 -video_track_timescale 30000 -movflags +faststart one.mp4
python3 - <<'PY'
import struct
b=bytearray(open('one.mp4','rb').read())
def find(t):
    out=[];i=0
    while True:
        i=b.find(t.encode(),i)
        if i<0: return out
        out.append(i); i+=1
traks=find('trak')
for k,t in enumerate(traks):
    end=traks[k+1] if k+1<len(traks) else len(b)
    h=[x for x in find('hdlr') if t<x<end][0]
    if b[h+12:h+16]==b'vide':
        for s in [x for x in find('stts') if t<x<end]: b[s+16:s+20]=struct.pack('>I',0x7FFFFFFF)
        for m in [x for x in find('mdhd') if t<x<end]: b[m+20:m+24]=struct.pack('>I',0x7FFFFFFF)
open('held.mp4','wb').write(b)
PY
$B/thud frames --null held.mp4; echo "exit $?"
echo "$($B/thud predict held.mp4 2>/dev/null | wc -l) predict lines"
mkdir -p hds && cp held.mp4 hds/; /usr/bin/env time -f "prepare: max resident %M kB, exit %x" $B/thud-train prepare hds --classes all --cache $W/hcache 2>&1 | tail -2
say "5. render on a FIFO, /dev/stdin"
mkfifo f; (cat $ROOT/models/sample.mp4 > f &) ; timeout 20 $B/thud render f --out r.mp4; echo "exit $?"; rm -f f
timeout 20 $B/thud render /dev/stdin --out r.mp4 < <(cat $ROOT/models/sample.mp4); echo "exit $?"
say "6. NaN model"
export ROOT
python3 - <<'PY'
import os, sys; sys.path.insert(0, os.environ['ROOT'] + '/tools/reference')
from thud_format import read_thud, write_thud
import numpy as np
h, t = read_thud(os.environ['ROOT'] + '/models/default.thud')
t = [(n, (np.where(np.arange(v.size).reshape(v.shape) % 2 == 0, 3e38, -3e38).astype(np.float32) if n.startswith('head.') else v)) for n, v in t.items()]
write_thud('huge.thud', h, t)
PY
$B/thud predict --model huge.thud $ROOT/models/sample.mp4 | head -2; echo "exit ${PIPESTATUS[0]}"
$B/thud eval --model huge.thud $W/D --out ev.json 2>&1 | tail -1; ls ev.json 2>/dev/null || echo "no ev.json"
say "7. feeds and MQTT"
printf 'a=udp://127.0.0.1:47321\r\nb=udp://127.0.0.1:47322\r\n' > feeds.txt
$B/thud watch --feeds feeds.txt --timeout 1 2>&1 | head -1
$B/thud watch --feeds /dev/null 2>&1; echo "exit $?"
$B/thud predict --mqtt "127.0.0.1:1/$(head -c 65530 /dev/zero | tr '\0' t)" $ROOT/models/sample.mp4 2>&1 | cut -c1-160 | head -2
$B/thud predict --mqtt 'u:secret@127.0.0.1:1/t' $ROOT/models/sample.mp4 2>&1 >/dev/null | head -3
$B/thud predict --mqtt '::1:1883/t' $ROOT/models/sample.mp4 2>&1 | head -1
say "8. pick-hits into /dev/full"
echo '{"envelope": [0, 0.2, 0.9, 0.1]}' | $B/thud-train pick-hits > /dev/full; echo "exit $?"
say "9. codes and messages"
$B/thud predict --input-option bogus=1 --timeout 60 udp://127.0.0.1:47331; echo "exit $?"
$B/thud predict --timeout 60 udp://127.0.0.1:99999; echo "exit $?"
(cd /tmp && $B/thud-train adapt MISSING; echo "exit $?")
$B/thud frames --size 1x1 --null $ROOT/models/sample.mp4; echo "exit $?"
mkdir -p empty && (cd /tmp && $B/thud-train fp16 $W/empty 2>&1 | tail -1; echo "exit ${PIPESTATUS[0]}")
