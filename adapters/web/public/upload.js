// Uploads in the playground: the 📎 button, a file dropped anywhere on the page, or an image pasted.
// The picture goes to /api/upload with the words typed so far as its instruction ("upscale", "make it
// night", or a prompt to imagine from it); an empty box just adds it to the conversation.

function readAsDataUrl(file) {
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve(reader.result);
    reader.onerror = () => reject(reader.error);
    reader.readAsDataURL(file);
  });
}

function hasFiles(event) {
  return [...(event.dataTransfer?.types ?? [])].includes('Files');
}

export function installUploads({ add, handleReplies, note, promptInput }) {
  const picker = document.querySelector('#upload-file');

  async function send(file) {
    const text = promptInput.value.trim();
    promptInput.value = '';
    const data = await readAsDataUrl(file);
    const res = await fetch('/api/upload', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ name: file.name || 'pasted image', text, data }),
    });
    const json = await res.json().catch(() => ({}));
    if (!res.ok) {
      note(json.error || `Upload failed (${res.status})`);
      return;
    }
    if (json.mine) add(json.mine);
    handleReplies(json.replies);
  }

  document.querySelector('#upload').addEventListener('click', () => picker.click());
  picker.addEventListener('change', () => {
    const file = picker.files?.[0];
    picker.value = '';
    if (file) send(file);
  });
  document.addEventListener('dragover', (event) => {
    if (!hasFiles(event)) return;
    event.preventDefault();
    document.body.classList.add('dropping');
  });
  document.addEventListener('dragleave', () => document.body.classList.remove('dropping'));
  document.addEventListener('drop', (event) => {
    if (!hasFiles(event)) return;
    event.preventDefault();
    document.body.classList.remove('dropping');
    const file = event.dataTransfer.files[0];
    if (file) send(file);
  });
  document.addEventListener('paste', (event) => {
    const file = [...(event.clipboardData?.files ?? [])][0];
    if (!file) return;
    event.preventDefault();
    send(file);
  });
}
