// ThudSound — the optional sound-out path (`--sonify`, issue 8).
//
// Data path:
//
//   inference loop ──submitHit / submitEnvelope──▶ SPSCQueue (lock-free, drop when full)
//        (producer, never blocks)                          │
//                                                          ▼
//   "thud-audio" thread: wait for a period of room → pop all → SoundRenderer → snd_pcm_writei
//        (consumer, never allocates; writes silence between hits so the device never runs dry)
//
// Calling pattern (what `thud live` / `thud predict --sonify` do):
//
//   let sonifier = try HitSonifier(request: SonifyRequest(argument: sonifyValue)!,   // hits|envelope[,optional]
//                                  device: audioDevice, voice: voice,              // "default", "wood"
//                                  warn: { print the CLI's warning line })         // optional: sound off, and why
//   per step:  if let hit { sonifier.submitHit(strength: hit.strength) }
//              sonifier.submitEnvelope(envelope)      // only played in envelope mode
//   at end:    sonifier.stop(drain: true); report sonifier.latencyStats, .underruns
//
// Pieces:
// - KnockTable/VoiceSpec: modal impact synthesis (decaying sinusoids + noise burst) rendered once
//   per voice at the device rate; loudness from strength on a 30 dB scale.
// - SoundRenderer: fixed voice slots (oldest stolen), envelope-shaped noise with 15 ms smoothing.
// - AlsaDevice: open (alsa-lib chatter muted, one-line SoundError, exit 40), hw params negotiated
//   (S16, nearest mono/48 kHz, 5 ms periods, 2 per buffer by default) and read back, sw params.
// - SoundSink: the audio thread. Pacing by the device's pointer, or — for ALSA `null`/`file`→`null`,
//   which swallow audio instantly and never underrun — by a wall-clock playhead, detected after the
//   first buffer. -EPIPE/-ESTRPIPE (and XRUN/SUSPENDED states) go through snd_pcm_recover and are
//   counted, never fatal. Latency per hit = submit→write (handoff) + frames queued ahead.
// - RealtimePacer: holds `thud predict FILE --sonify` to stream time.
//
// Checked by: Tests/ThudSoundTests (file plugin read-back; an in-process ioplug card paced like
// hardware for real xruns/suspends), tools/bench/sound_latency.sh (figures against one period +
// 10 ms), tools/bench/sound_alloc.sh (heap allocations on the audio thread under gdb: 0).
