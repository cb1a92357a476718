// A conversation's page: a transcript line's time button plays the recording from there, and
// the line being played is marked as the recording plays.
(function () {
  "use strict";
  const audio = document.getElementById("recording");
  const list = document.getElementById("conversation-transcript");
  if (!audio || !list) return;
  const items = Array.from(list.querySelectorAll("li"));
  list.addEventListener("click", (e) => {
    const button = e.target.closest("button.at");
    if (!button) return;
    audio.currentTime = Number(button.dataset.at);
    audio.play();
  });
  audio.addEventListener("timeupdate", () => {
    let current = null;
    for (const li of items) if (Number(li.dataset.at) <= audio.currentTime) current = li;
    for (const li of items) {
      if (li === current) li.setAttribute("aria-current", "true");
      else li.removeAttribute("aria-current");
    }
  });
})();
