// The mask editor: the canvas holds the mask at the image's own resolution (white = repaint).
const canvas = document.querySelector('#mask');
const context = canvas.getContext('2d');
const mask = new Uint8Array(canvas.width * canvas.height);
let tool = 'brush';
let drawing = false;
let start = null;

function toCell(event) {
  const rect = canvas.getBoundingClientRect();
  return [
    Math.floor(((event.clientX - rect.left) / rect.width) * canvas.width),
    Math.floor(((event.clientY - rect.top) / rect.height) * canvas.height),
  ];
}

function paint(x, y, value) {
  const radius = Math.max(0.5, Number(document.querySelector('#size').value) / 2);
  const r = Math.ceil(radius);
  for (let dy = -r; dy <= r; dy++)
    for (let dx = -r; dx <= r; dx++) {
      const px = x + dx,
        py = y + dy;
      if (
        px < 0 ||
        py < 0 ||
        px >= canvas.width ||
        py >= canvas.height ||
        dx * dx + dy * dy > radius * radius
      )
        continue;
      mask[py * canvas.width + px] = value;
    }
}

function line(a, b, value) {
  const steps = Math.max(Math.abs(b[0] - a[0]), Math.abs(b[1] - a[1]), 1);
  for (let i = 0; i <= steps; i++)
    paint(
      Math.round(a[0] + ((b[0] - a[0]) * i) / steps),
      Math.round(a[1] + ((b[1] - a[1]) * i) / steps),
      value,
    );
}

function redraw(preview) {
  const image = context.createImageData(canvas.width, canvas.height);
  const overlay = document.querySelector('#overlay').checked;
  for (let i = 0; i < mask.length; i++) {
    const on = mask[i] || (preview && inRect(i, preview));
    image.data.set(
      on ? (overlay ? [255, 64, 64, 150] : [255, 255, 255, 255]) : overlay ? [0, 0, 0, 0] : [0, 0, 0, 255],
      i * 4,
    );
  }
  context.putImageData(image, 0, 0);
}

function inRect(i, [a, b]) {
  const x = i % canvas.width,
    y = Math.floor(i / canvas.width);
  return (
    x >= Math.min(a[0], b[0]) &&
    x <= Math.max(a[0], b[0]) &&
    y >= Math.min(a[1], b[1]) &&
    y <= Math.max(a[1], b[1])
  );
}

let last = null;
canvas.addEventListener('pointerdown', (event) => {
  drawing = true;
  start = last = toCell(event);
  if (tool !== 'rect') {
    paint(...last, tool === 'brush' ? 1 : 0);
    redraw();
  }
});
canvas.addEventListener('pointermove', (event) => {
  if (!drawing) return;
  const here = toCell(event);
  if (tool === 'rect') redraw([start, here]);
  else {
    line(last, here, tool === 'brush' ? 1 : 0);
    last = here;
    redraw();
  }
});
window.addEventListener('pointerup', (event) => {
  if (!drawing) return;
  drawing = false;
  if (tool === 'rect') {
    const end = toCell(event);
    for (let i = 0; i < mask.length; i++) if (inRect(i, [start, end])) mask[i] = 1;
  }
  redraw();
});

for (const name of ['brush', 'eraser', 'rect']) {
  document.querySelector(`#${name}`).addEventListener('click', () => {
    tool = name;
    for (const other of ['brush', 'eraser', 'rect'])
      document.querySelector(`#${other}`).classList.toggle('active', other === name);
  });
}
document.querySelector('#invert').addEventListener('click', () => {
  for (let i = 0; i < mask.length; i++) mask[i] = mask[i] ? 0 : 1;
  redraw();
});
document.querySelector('#clear').addEventListener('click', () => {
  mask.fill(0);
  redraw();
});
document.querySelector('#overlay').addEventListener('change', () => redraw());

document.querySelector('#apply').addEventListener('click', async () => {
  const status = document.querySelector('#status');
  if (!mask.some((v) => v)) {
    status.textContent = 'Paint the area to change first.';
    return;
  }
  const out = document.createElement('canvas');
  out.width = canvas.width;
  out.height = canvas.height;
  const data = out.getContext('2d').createImageData(out.width, out.height);
  for (let i = 0; i < mask.length; i++) data.data.set(mask[i] ? [255, 255, 255, 255] : [0, 0, 0, 255], i * 4);
  out.getContext('2d').putImageData(data, 0, 0);
  status.textContent = 'Sending…';
  const res = await fetch('/api/editor', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      query: window.FLOWBOT_QUERY,
      mask: out.toDataURL('image/png'),
      prompt: document.querySelector('#prompt').value,
    }),
  });
  const json = await res.json().catch(() => ({}));
  const reply = json.replies?.[0];
  status.textContent = !res.ok
    ? (json.error ?? 'That did not work.')
    : reply?.type === 'queued'
      ? `Queued. ${reply.text} — the result appears where you asked for it.`
      : (reply?.text ?? 'Done.');
  status.dataset.state = res.ok && reply?.type === 'queued' ? 'queued' : 'error';
});
redraw();
