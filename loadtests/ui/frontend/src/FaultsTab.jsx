// The Faults tab: the proxies and their live toxics, forms for any toxic, the one-click faults and the
// profile's timeline. Every action is recorded in the run's ledger as a manual fault (loadtests/ui/controls.py).
import {
  Alert,
  Box,
  Button,
  MenuItem,
  Paper,
  Stack,
  Table,
  TableBody,
  TableCell,
  TableHead,
  TableRow,
  TextField,
  Typography,
} from '@mui/material';
import { useState } from 'react';

import { call, usePoll } from './api';

function Field({ label, value, onChange, select, options, name, width = 140 }) {
  return (
    <TextField
      inputProps={{ 'data-testid': `field-${name}` }}
      label={label}
      name={name}
      onChange={e => onChange(e.target.value)}
      select={select}
      size='small'
      sx={{ width }}
      value={value}
    >
      {select && options.map(o => <MenuItem key={o} value={o}>{String(o)}</MenuItem>)}
    </TextField>
  );
}

const num = text => (text === '' ? undefined : Number(text));

function ToxicForm({ info, act, editing, setEditing }) {
  const types = Object.keys(info.toxic_types || {});
  const [type, setType] = useState('latency');
  const [stream, setStream] = useState('downstream');
  const [toxicity, setToxicity] = useState('1');
  const [duration, setDuration] = useState('');
  const [attrs, setAttrs] = useState({ latency: '250', jitter: '0' });
  const names = Object.keys((info.toxic_types || {})[type] || {});
  const entry = () => ({
    kind: 'toxic',
    type,
    stream,
    toxicity: num(toxicity),
    ...(duration ? { duration } : {}),
    attributes: Object.fromEntries(names.filter(n => attrs[n] !== undefined && attrs[n] !== '').map(n => [n, num(attrs[n])])),
  });
  return (
    <Paper sx={{ p: 2 }} variant='outlined'>
      <Typography variant='h6'>{editing ? `Update toxic ${editing}` : 'Add a toxic'}</Typography>
      <Stack direction='row' flexWrap='wrap' gap={1} sx={{ mt: 1 }}>
        <Field label='type' name='type' onChange={setType} options={types} select value={type} />
        <Field label='stream' name='stream' onChange={setStream} options={['downstream', 'upstream']} select value={stream} />
        <Field label='toxicity (0..1)' name='toxicity' onChange={setToxicity} value={toxicity} />
        <Field label='duration (e.g. 10s)' name='duration' onChange={setDuration} value={duration} />
        {names.map(n => (
          <Field
            key={n}
            label={`${n} (${info.toxic_types[type][n]})`}
            name={`attr-${n}`}
            onChange={v => setAttrs({ ...attrs, [n]: v })}
            value={attrs[n] ?? ''}
          />
        ))}
        {editing ? (
          <>
            <Button data-testid='update-toxic' onClick={() => act(`/agentsoak/faults/toxics/${editing}`, entry(), 'PUT').then(() => setEditing(null))} variant='contained'>
              Update
            </Button>
            <Button onClick={() => setEditing(null)}>Cancel</Button>
          </>
        ) : (
          <Button data-testid='add-toxic' onClick={() => act('/agentsoak/faults/apply', entry())} variant='contained'>
            Add toxic
          </Button>
        )}
      </Stack>
    </Paper>
  );
}

function Actions({ info, act }) {
  const [code, setCode] = useState(1006);
  const [down, setDown] = useState('5s');
  const [share, setShare] = useState('1');
  const [status, setStatus] = useState(429);
  const [window_, setWindow] = useState('5s');
  const [limitShare, setLimitShare] = useState('0.5');
  const protocol = info.can && info.can.protocol;
  return (
    <Paper sx={{ p: 2 }} variant='outlined'>
      <Typography variant='h6'>Faults now</Typography>
      <Stack gap={1} sx={{ mt: 1 }}>
        <Stack alignItems='center' direction='row' gap={1}>
          <Button color='error' data-testid='drop-reset' onClick={() => act('/agentsoak/faults/drop', { how: 'reset_peer' })} variant='contained'>
            Drop every connection (reset_peer)
          </Button>
          <Button color='error' data-testid='drop-close' disabled={!protocol} onClick={() => act('/agentsoak/faults/drop', { how: 'close', code: Number(code) })} variant='contained'>
            Drop every connection (server close)
          </Button>
          <Field label='close code' name='close-code' onChange={setCode} options={info.close_codes || []} select value={code} />
        </Stack>
        <Stack alignItems='center' direction='row' gap={1}>
          <Button data-testid='proxy-down' onClick={() => act('/agentsoak/faults/apply', { kind: 'down', duration: down })} variant='outlined'>
            Take the proxy down for
          </Button>
          <Field label='duration' name='down-duration' onChange={setDown} value={down} />
        </Stack>
        <Stack alignItems='center' direction='row' gap={1}>
          <Button data-testid='evict' disabled={!protocol} onClick={() => act('/agentsoak/faults/apply', { kind: 'evict', share: Number(share) })} variant='outlined'>
            Evict caches
          </Button>
          <Field label='share (0..1)' name='evict-share' onChange={setShare} value={share} />
          <Button data-testid='wipe-store' disabled={!protocol} onClick={() => act('/agentsoak/faults/apply', { kind: 'wipe_store' })} variant='outlined'>
            Wipe the store
          </Button>
        </Stack>
        <Stack alignItems='center' direction='row' gap={1}>
          <Button data-testid='refuse' disabled={!protocol} onClick={() => act('/agentsoak/faults/apply', { kind: 'refuse', status: Number(status), duration: window_ })} variant='outlined'>
            Refuse upgrades
          </Button>
          <Field label='status' name='refuse-status' onChange={setStatus} options={info.refuse_statuses || []} select value={status} />
          <Field label='window' name='refuse-window' onChange={setWindow} value={window_} />
          <Button data-testid='limit' disabled={!protocol} onClick={() => act('/agentsoak/faults/apply', { kind: 'limit', share: Number(limitShare) })} variant='outlined'>
            Connection-limit wave
          </Button>
          <Field label='share (0..1)' name='limit-share' onChange={setLimitShare} value={limitShare} />
        </Stack>
        <Stack alignItems='center' direction='row' gap={1}>
          <Typography>Profile's fault timeline: {info.timeline ? 'playing' : 'stopped'}</Typography>
          <Button data-testid='timeline-start' disabled={info.timeline} onClick={() => act('/agentsoak/faults/timeline', { start: true })}>
            Start timeline
          </Button>
          <Button data-testid='timeline-stop' disabled={!info.timeline} onClick={() => act('/agentsoak/faults/timeline', { start: false })}>
            Stop timeline
          </Button>
        </Stack>
      </Stack>
    </Paper>
  );
}

function Proxies({ info, act, setEditing }) {
  return (
    <Paper sx={{ p: 2 }} variant='outlined'>
      <Typography variant='h6'>Proxies and their toxics</Typography>
      {info.proxy_error && <Alert severity='warning'>{info.proxy_error}</Alert>}
      <Table size='small'>
        <TableHead>
          <TableRow>
            <TableCell>proxy</TableCell>
            <TableCell>listen → upstream</TableCell>
            <TableCell>toxic</TableCell>
            <TableCell>type</TableCell>
            <TableCell>stream</TableCell>
            <TableCell>toxicity</TableCell>
            <TableCell>attributes</TableCell>
            <TableCell />
          </TableRow>
        </TableHead>
        <TableBody data-testid='toxics'>
          {info.proxies.map(p =>
            (p.toxics.length ? p.toxics : [null]).map((t, i) => (
              <TableRow key={`${p.name}-${t ? t.name : i}`}>
                <TableCell>{i === 0 ? `${p.name}${p.enabled ? '' : ' (down)'}` : ''}</TableCell>
                <TableCell>{i === 0 ? `${p.listen} → ${p.upstream}` : ''}</TableCell>
                <TableCell data-testid={t ? `toxic-${t.name}` : undefined}>{t ? t.name : 'no toxics'}</TableCell>
                <TableCell>{t && t.type}</TableCell>
                <TableCell>{t && t.stream}</TableCell>
                <TableCell>{t && t.toxicity}</TableCell>
                <TableCell>{t && JSON.stringify(t.attributes)}</TableCell>
                <TableCell>
                  {t && (
                    <>
                      <Button onClick={() => setEditing(t.name)} size='small'>Edit</Button>
                      <Button color='error' data-testid={`remove-${t.name}`} onClick={() => act(`/agentsoak/faults/toxics/${t.name}`, undefined, 'DELETE')} size='small'>
                        Remove
                      </Button>
                    </>
                  )}
                </TableCell>
              </TableRow>
            )),
          )}
        </TableBody>
      </Table>
      <Typography sx={{ mt: 1 }} variant='body2'>
        Active faults of this run: <span data-testid='active-faults'>{info.active.join(', ') || 'none'}</span>
      </Typography>
    </Paper>
  );
}

// The agents at a glance while pulling plugs (the Agents tab has the rest).
function AgentStrip() {
  const [g] = usePoll('/agentsoak/gauges', 250);
  if (!g) return null;
  return (
    <Typography data-testid='agent-strip' variant='body1'>
      Agents connected <b data-testid='strip-connected'>{g.agents.connected}</b> · reconnecting{' '}
      <b data-testid='strip-reconnecting'>{g.agents.reconnecting}</b> · gave up{' '}
      <b data-testid='strip-gave-up'>{g.agents.gave_up}</b> · reconnects {g.reconnects}
    </Typography>
  );
}

export default function FaultsTab() {
  const [info, error] = usePoll('/agentsoak/faults', 1000);
  const [message, setMessage] = useState(null);
  const [editing, setEditing] = useState(null);
  const act = (path, body = {}, method = 'POST') =>
    call(path, method, body)
      .then(r => setMessage({ severity: r.ok === false ? 'warning' : 'success', text: JSON.stringify(r) }))
      .catch(e => setMessage({ severity: 'error', text: String(e.message || e) }));
  if (error) return <Alert severity='error'>{error}</Alert>;
  if (!info) return <Typography>Loading…</Typography>;
  return (
    <Box sx={{ p: 2 }}>
      <Stack spacing={2}>
        <AgentStrip />
        {!info.running && <Alert severity='info'>Start a swarm: every fault added here is recorded in its run.</Alert>}
        {message && (
          <Alert data-testid='fault-message' onClose={() => setMessage(null)} severity={message.severity}>
            {message.text}
          </Alert>
        )}
        <Actions act={act} info={info} />
        <ToxicForm act={act} editing={editing} info={info} setEditing={setEditing} />
        <Proxies act={act} info={info} setEditing={setEditing} />
      </Stack>
    </Box>
  );
}
