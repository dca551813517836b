import { parseClientMessage, routeClientFrame } from './realtime.messages';

describe('client messages', () => {
  it('the kind is `type`, or the deprecated `event`; both must agree', () => {
    expect(parseClientMessage({ type: 'whoami' })).toEqual({
      ok: true,
      message: { type: 'whoami' },
    });
    expect(parseClientMessage({ event: 'subscribe', data: { since_seq: 3 } })).toEqual({
      ok: true,
      message: { type: 'subscribe', event: 'subscribe', data: { since_seq: 3 } },
    });
    expect(parseClientMessage({ type: 'whoami', event: 'subscribe' })).toMatchObject({
      ok: false,
      error: expect.stringContaining('disagree'),
    });
  });

  it('refuses what is not a message, an unknown kind and invalid data, naming the field', () => {
    for (const frame of [undefined, null, [1], 'text', 7])
      expect(parseClientMessage(frame)).toMatchObject({ ok: false });
    expect(parseClientMessage({ type: 'launch' })).toEqual({
      ok: false,
      error: 'Unknown type "launch": send subscribe or whoami',
    });
    expect(parseClientMessage({ type: 'subscribe', data: { since_seq: -1 } })).toMatchObject({
      ok: false,
      error: expect.stringContaining('data.since_seq'),
    });
    expect(parseClientMessage({ type: 'subscribe', data: { pad: 'x' } })).toMatchObject({
      ok: false,
    });
  });

  it("Nest's router gets the kind of valid text frames only", () => {
    expect(routeClientFrame('{"event":"whoami","data":{"request_id":"r"}}')).toEqual({
      event: 'whoami',
      data: { request_id: 'r' },
    });
    expect(routeClientFrame('{"type":"launch"}')).toBeUndefined();
    expect(routeClientFrame('not json')).toBeUndefined();
    expect(routeClientFrame(Buffer.from('{"type":"whoami"}'))).toBeUndefined();
  });
});
