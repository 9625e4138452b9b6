// Tocsin web UI: live updates over server-sent events (/api/v1/events). Plain JavaScript,
// no dependency, no eval, no inline code: every page works without it, this only keeps
// what is shown up to date. Events: `state` (a check changed state), `alarm` (an alarm
// changed), `reload` (we fell behind: reload the page).
(function () {
  'use strict';
  var body = document.body;
  var live = body ? body.getAttribute('data-live') : '';
  if (!live || typeof window.EventSource !== 'function') {
    return;
  }
  var note = document.getElementById('live');

  function say(text) {
    if (note) {
      note.textContent = text;
    }
  }

  function twoDigits(n) {
    return (n < 10 ? '0' : '') + n;
  }

  // `2026-05-01T12:34:56Z`, as the server writes <time datetime>.
  function iso(ms) {
    var d = new Date(ms);
    return d.getUTCFullYear() + '-' + twoDigits(d.getUTCMonth() + 1) + '-' +
      twoDigits(d.getUTCDate()) + 'T' + twoDigits(d.getUTCHours()) + ':' +
      twoDigits(d.getUTCMinutes()) + ':' + twoDigits(d.getUTCSeconds()) + 'Z';
  }

  // `45s`, `3m 12s`, `2h 5m`, `4d 3h`: as the server writes them.
  function span(ms) {
    var s = Math.max(0, Math.floor(ms / 1000));
    var d = Math.floor(s / 86400), h = Math.floor(s / 3600) % 24, m = Math.floor(s / 60) % 60;
    if (d > 0) { return d + 'd ' + h + 'h'; }
    if (h > 0) { return h + 'h ' + m + 'm'; }
    if (m > 0) { return m + 'm ' + (s % 60) + 's'; }
    return s + 's';
  }

  // Keeps the dashboard's "since" cells true as time passes.
  function refreshSince() {
    var now = Date.now();
    var times = document.querySelectorAll('#checks .c-since time[datetime]');
    for (var i = 0; i < times.length; i++) {
      var at = Date.parse(times[i].getAttribute('datetime'));
      if (!isNaN(at)) {
        times[i].textContent = now - at < 1000 ? 'just now' : span(now - at) + ' ago';
      }
    }
  }

  function bump(status, by) {
    var el = document.querySelector('[data-count="' + status + '"]');
    if (el) {
      var n = parseInt(el.textContent, 10) || 0;
      el.textContent = String(Math.max(0, n + by));
    }
  }

  // Dashboard: update the check's row and the counts.
  function updateRow(ev) {
    var row = document.getElementById('check-' + ev.check);
    if (!row) {
      return;
    }
    var before = row.getAttribute('data-status');
    var after = String(ev.to);
    if (before !== after) {
      row.setAttribute('data-status', after);
      row.className = 'st-' + after;
      bump(before, -1);
      bump(after, 1);
    }
    var badge = row.querySelector('.c-status .badge');
    if (badge) {
      badge.textContent = ev.summary;
    }
    var msg = row.querySelector('.c-msg');
    if (msg) {
      msg.textContent = ev.message;
    }
    if (before !== after || ev.from !== ev.to) {
      var since = row.querySelector('.c-since');
      if (since) {
        var t = document.createElement('time');
        t.setAttribute('datetime', iso(ev.at_ms));
        t.setAttribute('title', new Date(ev.at_ms).toUTCString());
        t.textContent = 'just now';
        since.textContent = '';
        since.appendChild(t);
      }
    }
  }

  function parse(e) {
    try {
      return JSON.parse(e.data);
    } catch (err) {
      return null;
    }
  }

  if (live === 'dashboard') {
    window.setInterval(refreshSince, 30000);
  }

  var source = new EventSource('/api/v1/events');
  source.addEventListener('open', function () {
    say('Live updates on.');
  });
  source.addEventListener('error', function () {
    // The browser retries by itself unless the stream is gone for good (404, 401, …).
    if (source.readyState === EventSource.CLOSED) {
      say('Live updates are off: reload the page to see changes.');
    } else {
      say('Live updates interrupted; reconnecting…');
    }
  });
  source.addEventListener('reload', function () {
    window.location.reload();
  });
  source.addEventListener('state', function (e) {
    var ev = parse(e);
    if (!ev || typeof ev.check !== 'string') {
      return;
    }
    if (live === 'dashboard') {
      updateRow(ev);
    } else if (live === 'check' && ev.check === body.getAttribute('data-check')) {
      say('This check is now ' + ev.summary + ' (' + ev.message + '). Reload the page for details.');
    }
  });
  source.addEventListener('alarm', function (e) {
    var ev = parse(e);
    if (!ev || live !== 'alarms') {
      return;
    }
    say('Alarm #' + ev.id + ' changed (' + ev.event + '). Reload the page to see it.');
  });
}());
