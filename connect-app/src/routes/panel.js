// The panel's script: served as /panel.js next to the page (the page has no inline script).
'use strict';

(function () {
  var meta = document.querySelector('meta[name="app-session-token"]');
  var button = document.getElementById('session-whoami');
  var result = document.getElementById('session-result');

  var answers = 0;

  // The state and text of the result line; `data-answers` counts the app's answers.
  function show(state, text) {
    if (state !== 'pending') {
      answers += 1;
      result.dataset.answers = String(answers);
    }
    result.dataset.state = state;
    result.textContent = text;
  }

  if (!meta) {
    button.disabled = true;
    show('none', 'No session: the product did not say who you are.');
  } else {
    var token = meta.getAttribute('content');
    button.addEventListener('click', function () {
      show('pending', 'Asking the app…');
      fetch('api/session/whoami', {
        headers: { Authorization: 'Bearer ' + token },
        cache: 'no-store',
      })
        .then(function (response) {
          return response.text().then(function (body) {
            if (response.ok) {
              var me = JSON.parse(body);
              show('ok', 'Signed in as ' + me.accountId + ' (tenant ' + me.clientKey + ')');
            } else if (response.status === 401 && body === 'session-revoked') {
              show('revoked', 'access revoked');
            } else if (response.status === 401 && body === 'session-expired') {
              show('expired', 'session expired: reload the page');
            } else {
              show('error', 'error ' + response.status + ' ' + body);
            }
          });
        })
        .catch(function () {
          show('error', 'error: the app did not answer');
        });
    });
  }

  // Inside the product: the app's API with a context token from all.js, when it loaded.
  window.addEventListener('load', function () {
    if (!window.AP || !AP.context) return;
    AP.context.getToken(function (contextToken) {
      fetch('api/whoami', { headers: { Authorization: 'JWT ' + contextToken } })
        .then(function (response) {
          return response.json();
        })
        .then(function (me) {
          document.getElementById('api').textContent =
            "The app's API says: tenant " + me.clientKey + ', account ' + me.accountId;
        });
    });
  });
})();
