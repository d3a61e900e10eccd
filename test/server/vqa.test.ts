// vqa through the real tool server and the real language-model client, against the local
// OpenAI-compatible test server: the crop sent, our instruction, answer normalisation, caching.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import sharp from 'sharp';
import { HealthResponse, ImageUploadResponse, TOOL_ROUTES, VqaResponse } from '../../src/protocol/tools.js';
import { startOpenAIServer, type OpenAIServer, type RecordedRequest } from '../helpers/openaiServer.js';
import { errorOf, FIXTURES, startTestToolServer, type TestToolServer } from '../helpers/toolServer.js';

/** The picture and the text of the one user message the tool server sent. */
async function sent(req: RecordedRequest): Promise<{ width: number; height: number; format: string; text: string; model: unknown }> {
  const messages = req.json.messages as Array<{ role: string; content: Array<{ type: string; text?: string; image_url?: { url: string } }> }>;
  assert.equal(messages.length, 1);
  assert.equal(messages[0]?.role, 'user');
  const parts = messages[0]?.content ?? [];
  const url = parts.find((p) => p.type === 'image_url')?.image_url?.url ?? '';
  const m = /^data:image\/(png|jpeg);base64,(.+)$/.exec(url);
  assert.ok(m, 'the image travels as a PNG or JPEG data URL');
  const meta = await sharp(Buffer.from(m[2] as string, 'base64')).metadata();
  return { width: meta.width ?? 0, height: meta.height ?? 0, format: m[1] as string, text: parts.find((p) => p.type === 'text')?.text ?? '', model: req.json.model };
}

describe('vqa against an OpenAI-compatible vision model', () => {
  let vlm: OpenAIServer;
  let srv: TestToolServer;
  let sha: string;
  let bigSha: string;

  before(async () => {
    vlm = await startOpenAIServer();
    srv = await startTestToolServer({
      args: ['--models', join(FIXTURES, 'no-models-here')],
      env: { VALOR_VLM_BASE_URL: vlm.url, VALOR_VLM_MODEL: 'vision-test', VALOR_VLM_API_KEY: 'k' },
    });
    sha = ImageUploadResponse.parse((await srv.call('POST', TOOL_ROUTES.images, undefined, { raw: readFileSync(join(FIXTURES, 'images', 'scene-640x480.jpg')) })).body).sha256;
    const big = await sharp({ create: { width: 3000, height: 2000, channels: 3, background: { r: 40, g: 90, b: 160 } } }).jpeg().toBuffer();
    bigSha = ImageUploadResponse.parse((await srv.call('POST', TOOL_ROUTES.images, undefined, { raw: big })).body).sha256;
  });

  after(async () => {
    await srv?.stop();
    await vlm?.close();
  });

  it('sends the box padded by 25% per side with our short-answer instruction, and normalises the answer', async () => {
    vlm.script({ text: '  Red.  ' });
    const r = await srv.call('POST', TOOL_ROUTES.vqa, { image: { sha256: sha }, bbox: [100, 100, 200, 180], prompt: 'What colour is the mug? Options: red, blue' });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    const v = VqaResponse.parse(r.body);
    assert.equal(v.answer, 'red');
    assert.deepEqual(v.crop, [75, 80, 225, 200]);
    assert.equal(v.cached, false);
    const s = await sent(vlm.chatRequests().at(-1) as RecordedRequest);
    assert.deepEqual([s.width, s.height], [150, 120]);
    assert.equal(s.model, 'vision-test');
    assert.match(s.text, /single word or a short phrase/);
    assert.match(s.text, /digits/);
    assert.match(s.text, /without units/);
    assert.match(s.text, /do not round/);
    assert.match(s.text, /exactly one of those options/);
    assert.match(s.text, /Question: What colour is the mug\? Options: red, blue$/);
  });

  it('answers a repeated question from its cache without calling the model', async () => {
    const before = vlm.chatRequests().length;
    const r = VqaResponse.parse((await srv.call('POST', TOOL_ROUTES.vqa, { image: { sha256: sha }, bbox: [100, 100, 200, 180], prompt: 'What colour is the mug? Options: red, blue' })).body);
    assert.equal(r.answer, 'red');
    assert.equal(r.cached, true);
    assert.equal(vlm.chatRequests().length, before);
    const h = HealthResponse.parse((await srv.call('GET', TOOL_ROUTES.health)).body);
    assert.equal(h.cache.vqa?.entries, 1);
  });

  it('asks the model again for another question on the same crop, and for the same question on another crop', async () => {
    const before = vlm.chatRequests().length;
    vlm.script({ text: 'Ceramic' });
    const other = VqaResponse.parse((await srv.call('POST', TOOL_ROUTES.vqa, { image: { sha256: sha }, bbox: [100, 100, 200, 180], prompt: 'What is the mug made of?' })).body);
    assert.equal(other.answer, 'ceramic', 'not the cached answer of the colour question');
    assert.equal(other.cached, false);
    assert.equal(vlm.chatRequests().length, before + 1);
    assert.match((await sent(vlm.chatRequests().at(-1) as RecordedRequest)).text, /Question: What is the mug made of\?$/);
    vlm.script({ text: 'blue' });
    const moved = VqaResponse.parse((await srv.call('POST', TOOL_ROUTES.vqa, { image: { sha256: sha }, bbox: [300, 100, 400, 180], prompt: 'What colour is the mug? Options: red, blue' })).body);
    assert.equal(moved.answer, 'blue', 'not the cached answer for the other crop');
    assert.equal(moved.cached, false);
    assert.equal(vlm.chatRequests().length, before + 2);
    const again = VqaResponse.parse((await srv.call('POST', TOOL_ROUTES.vqa, { image: { sha256: sha }, bbox: [100, 100, 200, 180], prompt: 'What is the mug made of?' })).body);
    assert.deepEqual([again.answer, again.cached], ['ceramic', true]);
    assert.equal(vlm.chatRequests().length, before + 2);
  });

  it('clamps the padded crop at the image border', async () => {
    vlm.script({ text: 'Mug,' });
    const v = VqaResponse.parse((await srv.call('POST', TOOL_ROUTES.vqa, { image: { sha256: sha }, bbox: [0, 0, 40, 40], prompt: 'what is it?' })).body);
    assert.equal(v.answer, 'mug');
    assert.deepEqual(v.crop, [0, 0, 50, 50]);
    const s = await sent(vlm.chatRequests().at(-1) as RecordedRequest);
    assert.deepEqual([s.width, s.height], [50, 50]);
  });

  it('sends the whole image for bbox null', async () => {
    vlm.script({ text: '3.75' });
    const v = VqaResponse.parse((await srv.call('POST', TOOL_ROUTES.vqa, { image: { sha256: sha }, bbox: null, prompt: 'how far is the wall in metres?' })).body);
    assert.equal(v.answer, '3.75', 'decimals are not touched');
    assert.deepEqual(v.crop, [0, 0, 640, 480]);
    const s = await sent(vlm.chatRequests().at(-1) as RecordedRequest);
    assert.deepEqual([s.width, s.height], [640, 480]);
  });

  it('downscales a very large crop before sending it', async () => {
    vlm.script({ text: 'blue' });
    const v = VqaResponse.parse((await srv.call('POST', TOOL_ROUTES.vqa, { image: { sha256: bigSha }, bbox: null, prompt: 'what colour?' })).body);
    assert.deepEqual(v.crop, [0, 0, 3000, 2000]);
    const s = await sent(vlm.chatRequests().at(-1) as RecordedRequest);
    assert.deepEqual([s.width, s.height], [1536, 1024]);
    assert.equal(s.format, 'jpeg');
  });

  it('turns a failing vision model into a 502 with its message, and keeps serving', async () => {
    vlm.script({ status: 400, body: { error: { message: 'image too small for this model', type: 'invalid_request_error' } } });
    const r = await srv.call('POST', TOOL_ROUTES.vqa, { image: { sha256: sha }, bbox: [10, 10, 60, 60], prompt: 'what?' });
    assert.equal(r.status, 502);
    assert.equal(errorOf(r).code, 'vlm_error');
    assert.match(errorOf(r).message, /vision-test/);
    assert.equal((await srv.call('GET', TOOL_ROUTES.health)).status, 200);
  });

  it('refuses an empty question', async () => {
    const r = await srv.call('POST', TOOL_ROUTES.vqa, { image: { sha256: sha }, bbox: null, prompt: '   ' });
    assert.equal(r.status, 400);
    assert.equal(errorOf(r).code, 'empty_prompt');
  });
});
