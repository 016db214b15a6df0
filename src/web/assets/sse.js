// Server-sent events over fetch: EventSource cannot send an Authorization header, and
// the token must stay out of URLs. Reads the stream with a reader and parses it as the
// HTML standard says (event:, data:, comments, blank line ends an event).

import { headers, ApiError } from './api.js';

// Calls onEvent({event, data}) for each event of `path` until the stream ends or
// `signal` aborts. Resolves when the stream ends; rejects on a refusal or a network error.
export async function streamEvents(path, onEvent, signal) {
  const response = await fetch(path, {
    headers: headers({ Accept: 'text/event-stream' }),
    cache: 'no-store',
    credentials: 'omit',
    signal,
  });
  if (!response.ok) {
    let body = null;
    try { body = await response.json(); } catch { body = null; }
    throw new ApiError(response.status, body);
  }
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  const parser = new EventParser(onEvent);
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    parser.push(value);
  }
  parser.end();
}

export class EventParser {
  constructor(onEvent) {
    this.onEvent = onEvent;
    this.buffer = '';
    this.event = '';
    this.data = [];
  }

  push(text) {
    this.buffer += text;
    for (;;) {
      const match = /\r\n|\r|\n/.exec(this.buffer);
      // A lone \r at the end may be the first half of \r\n: wait for more.
      if (!match || (match[0] === '\r' && match.index === this.buffer.length - 1)) return;
      const line = this.buffer.slice(0, match.index);
      this.buffer = this.buffer.slice(match.index + match[0].length);
      this.line(line);
    }
  }

  line(line) {
    if (line === '') {
      if (this.data.length) this.onEvent({ event: this.event || 'message', data: this.data.join('\n') });
      this.event = '';
      this.data = [];
      return;
    }
    if (line.startsWith(':')) return;
    const colon = line.indexOf(':');
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (field === 'event') this.event = value;
    else if (field === 'data') this.data.push(value);
  }

  end() {
    if (this.buffer) this.line(this.buffer);
    this.buffer = '';
    this.line('');
  }
}
