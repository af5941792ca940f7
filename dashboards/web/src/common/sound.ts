let ctx: AudioContext | undefined;

/**
 * A short two-tone alarm from WebAudio (no audio file to ship). Browsers only let it sound after the page had
 * a user gesture; the login click counts.
 */
export function playAlarm(critical: boolean): void {
  try {
    ctx ??= new AudioContext();
    const start = ctx.currentTime;
    const tones = critical ? [880, 660, 880, 660] : [660];
    tones.forEach((freq, i) => {
      const osc = ctx!.createOscillator();
      const gain = ctx!.createGain();
      osc.frequency.value = freq;
      osc.type = 'square';
      gain.gain.value = 0.06;
      osc.connect(gain).connect(ctx!.destination);
      osc.start(start + i * 0.22);
      osc.stop(start + i * 0.22 + 0.18);
    });
  } catch {
    // No audio device (headless, locked-down kiosk): the visible mark still shows.
  }
}

/** Unlock audio on the first user gesture. */
export function primeAudio(): void {
  try {
    ctx ??= new AudioContext();
    void ctx.resume();
  } catch {
    // ignore
  }
}
