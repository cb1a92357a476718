// The agent form: "Play a sample" speaks a line in the chosen voice; the first invalid field
// gets the focus after a refused save.
(function () {
  const summary = document.getElementById("error-summary");
  if (summary) summary.focus();
  const button = document.getElementById("play-sample");
  if (!button) return;
  const status = document.getElementById("sample-status");
  const audio = document.getElementById("sample-audio");
  const form = button.closest("form");
  button.addEventListener("click", async () => {
    const body = new FormData();
    body.set("csrf_token", form.elements["csrf_token"].value);
    body.set("voice_id", form.elements["voice_id"].value);
    body.set("language", form.elements["language"].value);
    body.set("voice_speed", form.elements["voice_speed"].value);
    body.set("voice_pitch", form.elements["voice_pitch"].value);
    button.disabled = true;
    status.textContent = "Speaking…";
    try {
      const resp = await fetch(button.dataset.sampleUrl, { method: "POST", body, credentials: "same-origin" });
      if (!resp.ok) {
        const text = await resp.text();
        let detail = text;
        try { detail = JSON.parse(text).detail; } catch (e) { /* plain text */ }
        status.textContent = "No sample: " + detail;
        return;
      }
      audio.src = URL.createObjectURL(await resp.blob());
      await audio.play();
      status.textContent = "Playing the sample.";
    } catch (e) {
      status.textContent = "No sample: " + e;
    } finally {
      button.disabled = false;
    }
  });
})();
