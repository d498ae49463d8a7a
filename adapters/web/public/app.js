// flowbot playground: a small chat client. No framework, nothing from outside this server.
import { installUploads } from '/upload.js';

const chat = document.querySelector('#chat');
const promptInput = document.querySelector('#prompt');
let replyTo = null;
const entries = new Map();

const REACTIONS = ['🔍', '1️⃣', '2️⃣', '3️⃣', '4️⃣', '❌', '✉️'];

async function post(url, body) {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  const json = await res.json().catch(() => ({}));
  if (!res.ok) note(json.error || `Request failed (${res.status})`);
  return json;
}

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (key.startsWith('on')) node.addEventListener(key.slice(2), value);
    else if (value !== undefined && value !== null) node.setAttribute(key, value);
  }
  for (const child of children) if (child !== null && child !== undefined) node.append(child);
  return node;
}

function note(text) {
  const node = el(
    'div',
    { class: 'entry note', 'data-testid': 'note' },
    el('div', { class: 'who' }, 'only you can see this'),
    text,
  );
  chat.append(node);
  node.scrollIntoView({ block: 'end' });
}

function render(entry) {
  const node = el('div', {
    class: `entry ${entry.fromBot ? 'bot' : 'user'}`,
    id: `m-${entry.messageId}`,
    'data-message-id': entry.messageId,
    'data-testid': entry.image ? 'result' : entry.fromBot ? 'status' : 'mine',
  });
  node.append(el('div', { class: 'who' }, entry.fromBot ? 'flowbot' : 'you'));
  if (entry.replyTo && entries.has(entry.replyTo) && !entry.fromBot)
    node.append(el('div', { class: 'reply-ref' }, '↪ reply'));
  node.append(el('div', { class: 'text' }, entry.text));
  if (entry.image) {
    const img = entry.image;
    node.dataset.imageId = img.imageId;
    node.append(
      el('img', {
        class: 'result',
        src: img.url,
        alt: img.context,
        'data-testid': 'result-image',
        'data-width': img.width,
        'data-height': img.height,
        onclick: () => window.open(img.url, '_blank'),
      }),
    );
    node.append(el('div', { class: 'context' }, img.context));
    const buttons = el('div', { class: 'buttons' });
    for (const button of img.buttons) {
      if (button.style === 'link')
        buttons.append(
          el(
            'a',
            { class: 'button', href: button.url, target: '_blank', 'data-testid': `btn-${button.label}` },
            button.label,
          ),
        );
      else
        buttons.append(
          el(
            'button',
            {
              type: 'button',
              class: button.style === 'primary' ? 'primary' : '',
              'data-testid': `btn-${button.label}`,
              onclick: () => act(button.customId),
            },
            button.label,
          ),
        );
    }
    node.append(buttons);
    const tools = el('div', { class: 'reactions' });
    for (const emoji of REACTIONS)
      tools.append(
        el(
          'button',
          {
            type: 'button',
            class: 'ghost',
            title: 'react',
            'data-testid': `react-${emoji}`,
            onclick: () => react(entry.messageId, emoji),
          },
          emoji,
        ),
      );
    tools.append(
      el('button', { type: 'button', 'data-testid': 'reply', onclick: () => startReply(entry) }, 'Reply'),
    );
    tools.append(
      el('a', { class: 'button', href: `${img.url}?download`, 'data-testid': 'download' }, 'Download'),
    );
    tools.append(
      el(
        'button',
        { type: 'button', 'data-testid': 'lineage', onclick: () => showLineage(img.imageId) },
        'Lineage',
      ),
    );
    node.append(tools);
  }
  if (entry.fromBot && entry.jobId && !entry.image && entry.messageId.startsWith('s-')) {
    node.append(el('div', { class: 'progress', 'data-testid': 'progress' }, el('div')));
  }
  return node;
}

/** Status messages a job's result or failure took the place of: they never come back. */
const replaced = new Set();

/** Shows an entry: in place of itself or of the status message it `replaces`, else at the end. */
function add(entry, replaces) {
  if (replaced.has(entry.messageId)) return;
  const node = render(entry);
  entries.set(entry.messageId, entry);
  const own = document.getElementById(`m-${entry.messageId}`);
  const status = replaces ? document.getElementById(`m-${replaces}`) : null;
  if (replaces) replaced.add(replaces);
  if (own) {
    own.replaceWith(node);
    status?.remove();
  } else if (status) status.replaceWith(node);
  else chat.append(node);
  node.scrollIntoView({ block: 'end' });
}

/** A line under a job's status while it waits (no worker running, the queue unreachable). */
function notice({ jobId, text }) {
  const status = document.getElementById(`m-s-${jobId}`);
  if (!status) return;
  let line = status.querySelector('.job-notice');
  if (!line) {
    line = el('div', { class: 'job-notice', 'data-testid': 'job-notice' });
    status.append(line);
  }
  line.textContent = text;
}

function progress({ jobId, step, total, preview }) {
  const status = document.getElementById(`m-s-${jobId}`);
  if (!status) return;
  if (step > 0) status.querySelector('.job-notice')?.remove();
  const bar = status.querySelector('.progress > div');
  if (bar) bar.style.width = `${Math.round((100 * step) / Math.max(1, total))}%`;
  if (preview) {
    let img = status.querySelector('img.preview');
    if (!img) {
      img = el('img', { class: 'preview', alt: 'preview', 'data-testid': 'preview' });
      status.append(img);
    }
    img.src = preview;
  }
}

function done({ jobId }) {
  const status = document.getElementById(`m-s-${jobId}`);
  status?.querySelector('.progress')?.remove();
  status?.querySelector('img.preview')?.remove();
  status?.querySelector('.job-notice')?.remove();
}

function handleReplies(replies = []) {
  for (const reply of replies) {
    if (reply.type === 'text' || reply.type === 'note') note(reply.text);
    else if (reply.type === 'entry') add(reply.entry);
    else if (reply.type === 'modal') openModal(reply.modal);
  }
}

async function act(customId, fields) {
  handleReplies((await post('/api/action', { customId, fields })).replies);
}

async function react(messageId, emoji) {
  handleReplies((await post('/api/reaction', { messageId, emoji })).replies);
}

function startReply(entry) {
  replyTo = entry.messageId;
  document.querySelector('#replying').hidden = false;
  document.querySelector('#replying-to').textContent = entry.image
    ? `#${entry.image.imageId}`
    : entry.text.slice(0, 40);
  promptInput.placeholder = 'make it night · add a moon · in the top left: a sun · #2 upscale · undo';
  promptInput.focus();
}

function stopReply() {
  replyTo = null;
  document.querySelector('#replying').hidden = true;
  promptInput.placeholder = '/imagine a lighthouse at dusk --ar 16:9 (or just type a prompt; /help)';
}

function openModal(modal) {
  const dialog = document.querySelector('#modal');
  document.querySelector('#modal-title').textContent = modal.title;
  const fields = document.querySelector('#modal-fields');
  fields.replaceChildren();
  for (const field of modal.fields) {
    const input = field.long
      ? el('textarea', { name: field.id, rows: 3, placeholder: field.placeholder })
      : el('input', { name: field.id, placeholder: field.placeholder });
    input.value = field.value ?? '';
    input.dataset.testid = `field-${field.id}`;
    fields.append(el('label', {}, field.label), input);
  }
  dialog.onclose = () => {
    if (dialog.returnValue !== 'ok') return;
    const values = {};
    for (const field of modal.fields) values[field.id] = fields.querySelector(`[name="${field.id}"]`).value;
    act(modal.customId, values);
  };
  dialog.showModal();
}

async function showLineage(imageId) {
  const res = await fetch(`/api/images/${imageId}`);
  if (!res.ok) return note('That image is gone.');
  const { lineage } = await res.json();
  const list = document.querySelector('#lineage-list');
  list.replaceChildren();
  for (const item of lineage) {
    list.append(
      el(
        'li',
        {
          'data-testid': 'ancestor',
          onclick: () => {
            const target = document.querySelector(`[data-image-id="${item.id}"]`);
            if (target) target.scrollIntoView({ behavior: 'smooth', block: 'center' });
            else window.open(item.url, '_blank');
          },
        },
        el('img', { src: item.url, alt: '' }),
        `#${item.id} · ${item.operation}`,
        el('div', { class: 'muted' }, `seed ${item.seed} · ${item.width}×${item.height}`),
      ),
    );
  }
  document.querySelector('#lineage').hidden = false;
}

document.querySelector('#close-lineage').addEventListener('click', () => {
  document.querySelector('#lineage').hidden = true;
});
document.querySelector('#cancel-reply').addEventListener('click', stopReply);
async function send(text, options = {}) {
  promptInput.value = '';
  const body = { text, ...(replyTo && !options.fresh ? { replyTo } : {}) };
  stopReply();
  const answer = await post('/api/message', body);
  // Your own line first, even when this answer overtakes its event on the stream.
  if (answer.mine) add(answer.mine);
  handleReplies(answer.replies);
}

/**
 * ⚡ Quick preview: the typed prompt as `/imagine … --draft` (the model's draft: on the shipped model
 * its two-step draft denoiser), so it is shown like any result, with Enhance for the full image.
 */
function quickPreviewCommand(text) {
  const prompt = text.replace(/^\/imagine\s+/i, '');
  if (prompt.startsWith('/')) return null;
  return /(^|\s)(--|—)draft(?=\s|$)/.test(prompt) ? `/imagine ${prompt}` : `/imagine ${prompt} --draft`;
}

document.querySelector('#composer').addEventListener('submit', (event) => {
  event.preventDefault();
  const text = promptInput.value.trim();
  if (text) send(text);
});
document.querySelector('#quick-preview').addEventListener('click', () => {
  const text = promptInput.value.trim();
  if (!text) return note('Type a prompt first: ⚡ makes a quick draft of it.');
  const command = quickPreviewCommand(text);
  if (!command) return note('⚡ makes a quick draft of a prompt; type the prompt without a command.');
  // A preview is always a new image, never a reply that edits an older one.
  send(command, { fresh: true });
});

const history = await (await fetch('/api/history')).json();
for (const entry of history.entries) add(entry);
const events = new EventSource('/api/events');
events.onmessage = (message) => {
  const event = JSON.parse(message.data);
  if (event.type === 'entry') add(event.entry, event.replaces);
  else if (event.type === 'progress') progress(event);
  else if (event.type === 'notice') notice(event);
  else if (event.type === 'done') done(event);
  else if (event.type === 'delete') document.getElementById(`m-${event.messageId}`)?.remove();
};
installUploads({ add, handleReplies, note, promptInput });
document.body.dataset.ready = 'true';
