'use strict';
(function () {
  const form = document.getElementById('login');
  const error = document.getElementById('error');
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    error.hidden = true;
    const token = document.getElementById('token').value.trim();
    try {
      const response = await fetch('/login', {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ token }),
        credentials: 'same-origin',
      });
      if (!response.ok) {
        const body = await response.json().catch(() => ({}));
        throw new Error(body.error || ('HTTP ' + response.status));
      }
      localStorage.removeItem('backstay.user');
      location.replace('/');
    } catch (err) {
      error.textContent = err.message;
      error.hidden = false;
    }
  });
})();
