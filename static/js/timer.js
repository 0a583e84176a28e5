// The running timer on the ticket page counts up each second (data-started: ISO start time).
(function () {
  var el = document.querySelector('#timer .elapsed[data-started]');
  if (!el) return;
  var started = Date.parse(el.getAttribute('data-started'));
  function pad(n) { return (n < 10 ? '0' : '') + n; }
  function tick() {
    var s = Math.max(0, Math.floor((Date.now() - started) / 1000));
    el.textContent = Math.floor(s / 3600) + ':' + pad(Math.floor(s / 60) % 60) + ':' + pad(s % 60);
  }
  tick();
  setInterval(tick, 1000);
})();
