// The Agents tab: live gauges of the current swarm's run (GET /agentsoak/gauges) and each run's verdict.
import { Alert, Box, Card, CardContent, Chip, Link, Stack, Typography } from '@mui/material';

import { usePoll } from './api';

const fmt = (x, unit = '') => (x === null || x === undefined ? '–' : `${x}${unit}`);

function Gauge({ label, value, id }) {
  return (
    <Card variant='outlined' sx={{ minWidth: 150 }}>
      <CardContent>
        <Typography color='text.secondary' variant='body2'>
          {label}
        </Typography>
        <Typography data-testid={`gauge-${id}`} variant='h5'>
          {value}
        </Typography>
      </CardContent>
    </Card>
  );
}

function ConnectedChart({ series, faults }) {
  const width = 900;
  const height = 180;
  if (!series || series.length < 2) {
    return <Typography color='text.secondary'>The connected-agents chart starts with the swarm.</Typography>;
  }
  const t0 = series[0][0];
  const t1 = series[series.length - 1][0];
  const span = Math.max(1, t1 - t0);
  const top = Math.max(1, ...series.map(p => p[1]));
  const x = t => ((t - t0) / span) * width;
  const y = v => height - (v / top) * (height - 10);
  const path = series.map((p, i) => `${i ? 'L' : 'M'}${x(p[0]).toFixed(1)},${y(p[1]).toFixed(1)}`).join(' ');
  return (
    <svg data-testid='connected-chart' viewBox={`0 0 ${width} ${height + 20}`} width='100%'>
      {faults.map(f => {
        const a = Math.max(0, x(f.start));
        const b = Math.min(width, Math.max(a + 3, x(f.end ?? t1)));
        return (
          <g key={f.fault}>
            <rect fill={f.manual ? '#ff980055' : '#f4433655'} height={height} width={b - a} x={a} y={0} />
            <text fill='currentColor' fontSize='11' x={a + 2} y={12}>
              {f.fault}
            </text>
          </g>
        );
      })}
      <path d={path} fill='none' stroke='#2196f3' strokeWidth='2' />
      <text fill='currentColor' fontSize='11' x={0} y={height + 15}>
        {`${t0}s`}
      </text>
      <text fill='currentColor' fontSize='11' textAnchor='end' x={width} y={height + 15}>
        {`${t1}s · peak ${top} connected`}
      </text>
    </svg>
  );
}

function Runs({ runs }) {
  if (!runs || !runs.length) return null;
  return (
    <Stack spacing={1}>
      <Typography variant='h6'>Runs of this session</Typography>
      {[...runs].reverse().map(r => (
        <Alert
          data-testid={`run-${r.run}`}
          key={r.run}
          severity={r.verdict === 'PASS' ? 'success' : r.verdict ? 'error' : 'info'}
        >
          <b>{r.run}</b>{' '}
          {r.state === 'running' && 'recording…'}
          {r.state === 'verifying' && 'verifying…'}
          {r.state === 'done' && (
            <>
              <span data-testid='verdict'>{r.verdict}</span> ·{' '}
              <Link href={`.${r.report}`} target='_blank'>
                report.html
              </Link>
            </>
          )}
          {(r.failed || []).map(c => (
            <div key={c.name}>
              FAIL {c.name}: {c.detail}
            </div>
          ))}
          {r.error && <pre style={{ whiteSpace: 'pre-wrap' }}>{r.error}</pre>}
        </Alert>
      ))}
    </Stack>
  );
}

export default function AgentsTab() {
  const [g, error] = usePoll('/agentsoak/gauges', 500);
  if (error) return <Alert severity='error'>{error}</Alert>;
  if (!g) return <Typography>Loading…</Typography>;
  const modes = g.recovery_modes || {};
  const active = (g.faults || []).filter(f => f.active);
  return (
    <Box sx={{ p: 2 }}>
      <Stack spacing={2}>
        <Typography variant='body2'>
          Run <b data-testid='gauge-run'>{g.run || 'none yet: start a swarm'}</b>{' '}
          {active.map(f => (
            <Chip color={f.manual ? 'warning' : 'error'} key={f.fault} label={`${f.fault} (${f.type})`} size='small' />
          ))}
        </Typography>
        <Stack direction='row' flexWrap='wrap' gap={1}>
          <Gauge id='connected' label='Agents connected' value={g.agents.connected} />
          <Gauge id='reconnecting' label='Reconnecting' value={g.agents.reconnecting} />
          <Gauge id='gave-up' label='Gave up' value={g.agents.gave_up} />
          <Gauge id='reconnect-rate' label='Reconnects / s' value={g.reconnects_per_s} />
          <Gauge id='cache-hit' label='Cache hit ratio' value={fmt(g.cache_hit_ratio)} />
          <Gauge id='lost' label='Lost turns' value={g.lost_turns} />
          <Gauge id='duplicated' label='Duplicated turns' value={g.duplicated_turns} />
          <Gauge id='ttft' label='TTFT p95' value={fmt(g.ttft_p95_ms, ' ms')} />
          <Gauge id='turn' label='Turn p95' value={fmt(g.turn_p95_ms, ' ms')} />
        </Stack>
        <Typography data-testid='recovery-modes' variant='body2'>
          Recoveries: cache hit {modes.cache_hit ?? 0} · store hydrate {modes.store_hydrate ?? 0} · full resend{' '}
          {modes.full_resend ?? 0} · failed {modes.failed ?? 0} · reconnects {g.reconnects} · turns {g.turns}
        </Typography>
        <ConnectedChart faults={g.faults || []} series={g.series} />
        <Runs runs={g.runs} />
      </Stack>
    </Box>
  );
}
