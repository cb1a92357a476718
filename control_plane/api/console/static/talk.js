// "Talk to it": a call from this browser's microphone through LiveKit, its live transcript
// (the agent's `lk.transcription` text streams: interim as they grow, final when done), each
// turn's voice-to-voice time heard here (end of the microphone's speech -> the agent's first
// sound: the microphone's level from an analyser every 10 ms, the agent's from its receiver's
// statistics every 20 ms) beside the agent's own stage
// figures (`agent.metrics` data), and a text chat on the chat API.
(function () {
  "use strict";
  const callPanel = document.getElementById("panel-call");
  const status = document.getElementById("call-status");
  const startButton = document.getElementById("start-call");
  const endButton = document.getElementById("end-call");
  const transcript = document.getElementById("transcript");
  const turnsBody = document.querySelector("#turns tbody");
  const SPEECH_DB = -45;      // a 10 ms level above this is speech
  const END_QUIET_MS = 400;   // the caller's speech ended after this much quiet
  let room = null;
  let meter = null;

  function say(text) { status.textContent = text; }

  // --- tabs -------------------------------------------------------------------------------
  const tabs = Array.from(document.querySelectorAll('[role="tab"]'));
  function select(tab) {
    for (const t of tabs) {
      const on = t === tab;
      t.setAttribute("aria-selected", String(on));
      t.tabIndex = on ? 0 : -1;
      document.getElementById(t.getAttribute("aria-controls")).hidden = !on;
    }
    tab.focus();
  }
  for (const [i, tab] of tabs.entries()) {
    tab.addEventListener("click", () => select(tab));
    tab.addEventListener("keydown", (e) => {
      if (e.key === "ArrowRight" || e.key === "ArrowLeft") {
        const next = tabs[(i + (e.key === "ArrowRight" ? 1 : tabs.length - 1)) % tabs.length];
        select(next);
        e.preventDefault();
      }
    });
  }

  // --- transcript -------------------------------------------------------------------------
  const lines = new Map(); // segment id -> <li>
  function show(segment, who, text, final) {
    let li = lines.get(segment);
    if (!li) {
      li = document.createElement("li");
      li.dataset.role = who;
      li.innerHTML = '<span class="who"></span> <span class="text"></span>';
      li.querySelector(".who").textContent = who === "agent" ? "Agent:" : "You:";
      lines.set(segment, li);
      transcript.appendChild(li);
    }
    li.querySelector(".text").textContent = text;
    li.classList.toggle("interim", !final);
    li.dataset.final = String(final);
  }

  async function readTranscription(reader, participant) {
    const attrs = reader.info.attributes || {};
    const segment = attrs["lk.segment_id"] || reader.info.id;
    const who = participant.identity === room.localParticipant.identity ? "caller" : "agent";
    let text = "";
    for await (const chunk of reader) {
      text += chunk;
      show(segment, who, text, false);
    }
    const final = attrs["lk.transcription_final"] === "true" || who === "agent";
    show(segment, who, text, final);
  }

  // --- latency ----------------------------------------------------------------------------
  // Levels of the microphone and of the agent every 10 ms: the caller's end of speech is the
  // last loud frame before END_QUIET_MS of quiet; the reply starts at the agent's first loud
  // frame after it.
  function levelMeter(context, stream) {
    const analyser = context.createAnalyser();
    analyser.fftSize = 512;
    context.createMediaStreamSource(stream).connect(analyser);
    const data = new Float32Array(analyser.fftSize);
    return () => {
      analyser.getFloatTimeDomainData(data);
      let sum = 0;
      for (const v of data) sum += v * v;
      return 10 * Math.log10(sum / data.length + 1e-12);
    };
  }

  // The agent's level from its track's receiver statistics: the energy of the audio decoded
  // since the last look (WebAudio on a remote track can stay silent in some browsers, and the
  // RTP level extension is not always negotiated).
  function receiverMeter(track) {
    let level = -200, energy = null, duration = null, busy = false;
    const timer = setInterval(async () => {
      if (busy || !track.receiver) return;
      busy = true;
      try {
        const stats = await track.receiver.getStats();
        stats.forEach((r) => {
          if (r.type !== "inbound-rtp" || r.totalAudioEnergy === undefined) return;
          if (energy !== null && r.totalSamplesDuration > duration) {
            const power = (r.totalAudioEnergy - energy) / (r.totalSamplesDuration - duration);
            level = 10 * Math.log10(power + 1e-20);
          }
          energy = r.totalAudioEnergy;
          duration = r.totalSamplesDuration;
        });
      } finally {
        busy = false;
      }
    }, 20);
    const read = () => level;
    read.stop = () => clearInterval(timer);
    return read;
  }

  function startMeter(micStream, agentTrack) {
    const context = new AudioContext();
    const mic = levelMeter(context, micStream);
    const agent = receiverMeter(agentTrack);
    let lastLoud = null, waiting = null, turn = 0;
    const timer = setInterval(() => {
      const now = performance.now();
      if (mic() > SPEECH_DB) lastLoud = now;
      if (lastLoud !== null && now - lastLoud > END_QUIET_MS && waiting === null) {
        waiting = lastLoud;
        lastLoud = null;
      }
      if (waiting !== null && agent() > SPEECH_DB) {
        turn += 1;
        addTurn(turn, now - waiting);
        waiting = null;
      }
    }, 10);
    return { stop() { clearInterval(timer); agent.stop(); context.close(); } };
  }

  const pendingStages = [];
  let lastUserStages = {};
  function addTurn(n, heardMs) {
    const row = document.createElement("tr");
    row.innerHTML = "<th scope='row'></th><td class='v2v'></td><td class='e2e'></td><td class='eou'></td><td class='llm'></td><td class='tts'></td>";
    row.querySelector("th").textContent = String(n);
    row.querySelector(".v2v").textContent = Math.round(heardMs) + " ms";
    turnsBody.appendChild(row);
    fillStages();
  }
  function ms(seconds) { return seconds == null ? "–" : Math.round(seconds * 1000) + " ms"; }
  function fillStages() {
    const rows = Array.from(turnsBody.querySelectorAll("tr")).filter((r) => !r.dataset.filled);
    while (rows.length && pendingStages.length) {
      const row = rows.shift(), stages = pendingStages.shift();
      row.querySelector(".e2e").textContent = ms(stages.e2e_latency);
      row.querySelector(".eou").textContent = ms(stages.end_of_turn_delay);
      row.querySelector(".llm").textContent = ms(stages.llm_node_ttft);
      row.querySelector(".tts").textContent = ms(stages.tts_node_ttfb);
      row.dataset.filled = "1";
    }
  }
  function onData(payload, participant, kind, topic) {
    if (topic !== "agent.metrics") return;
    try {
      const event = JSON.parse(new TextDecoder().decode(payload));
      if (event.type !== "turn_metrics" || !event.stages) return;
      if (event.role === "user") lastUserStages = event.stages;
      if (event.role === "assistant" && event.stages.e2e_latency != null) {
        pendingStages.push({ ...lastUserStages, ...event.stages });
        lastUserStages = {};
        fillStages();
      }
    } catch (e) { /* another kind of packet */ }
  }

  // --- the call ---------------------------------------------------------------------------
  async function post(url, fields) {
    const body = new FormData();
    for (const [k, v] of Object.entries(fields)) body.set(k, v);
    const resp = await fetch(url, { method: "POST", body, credentials: "same-origin" });
    const data = await resp.json().catch(() => ({ detail: resp.statusText }));
    if (!resp.ok) throw new Error(data.detail || resp.statusText);
    return data;
  }

  async function start() {
    startButton.disabled = true;
    let micStream;
    say("Asking for the microphone…");
    try {
      micStream = await navigator.mediaDevices.getUserMedia({ audio: true });
    } catch (e) {
      say("The microphone was refused (" + e.name + "): allow this page to use it in the browser's site settings, then start the call again.");
      status.classList.add("error");
      startButton.disabled = false;
      return;
    }
    status.classList.remove("error");
    try {
      say("Starting the call…");
      const call = await post(callPanel.dataset.callUrl, { csrf_token: callPanel.dataset.csrf });
      const LK = window.LivekitClient;
      room = new LK.Room();
      room.registerTextStreamHandler("lk.transcription", (reader, participant) => {
        readTranscription(reader, participant).catch(() => {});
      });
      room.on(LK.RoomEvent.DataReceived, onData);
      room.on(LK.RoomEvent.TrackSubscribed, (track) => {
        if (track.kind !== "audio") return;
        track.attach(document.getElementById("agent-audio"));
        if (meter) meter.stop();
        meter = startMeter(micStream, track);
      });
      room.on(LK.RoomEvent.Disconnected, () => ended("The call has ended."));
      await room.connect(call.url, call.token);
      const [micTrack] = micStream.getAudioTracks();
      await room.localParticipant.publishTrack(micTrack, { source: LK.Track.Source.Microphone });
      say("Connected: speak when the agent has greeted you.");
      endButton.hidden = false;
      const link = document.getElementById("conversation-link");
      link.querySelector("a").href = "/console/conversations/" + call.conversation_id;
      link.hidden = false;
      endButton.focus();
    } catch (e) {
      say("The call could not start: " + e.message);
      status.classList.add("error");
      micStream.getTracks().forEach((t) => t.stop());
      startButton.disabled = false;
    }
  }

  function ended(text) {
    if (meter) { meter.stop(); meter = null; }
    say(text);
    endButton.hidden = true;
    startButton.disabled = false;
  }

  startButton.addEventListener("click", start);
  endButton.addEventListener("click", async () => {
    if (room) await room.disconnect();
    ended("You ended the call.");
  });

  // --- text chat --------------------------------------------------------------------------
  const chatPanel = document.getElementById("panel-chat");
  const chatForm = document.getElementById("chat-form");
  const chatLog = document.getElementById("chat-log");
  const chatStatus = document.getElementById("chat-status");
  let sessionId = "";
  function chatLine(who, text) {
    const li = document.createElement("li");
    li.dataset.role = who;
    li.innerHTML = '<span class="who"></span> <span class="text"></span>';
    li.querySelector(".who").textContent = who === "agent" ? "Agent:" : "You:";
    li.querySelector(".text").textContent = text;
    chatLog.appendChild(li);
  }
  chatForm.addEventListener("submit", async (e) => {
    e.preventDefault();
    const box = document.getElementById("chat-message");
    const message = box.value.trim();
    if (!message) return;
    chatLine("caller", message);
    box.value = "";
    chatStatus.textContent = "The agent is answering…";
    try {
      const reply = await post(chatPanel.dataset.chatUrl, { csrf_token: chatPanel.dataset.csrf, message, session_id: sessionId });
      sessionId = reply.session_id;
      chatLine("agent", reply.response);
      chatStatus.textContent = "";
    } catch (err) {
      chatStatus.textContent = "No answer: " + err.message;
    }
    box.focus();
  });
})();
