import { describe, expect, it } from 'vitest';
import { gateMachine, triageMachine } from '../../actors/index.js';
import { machineGraph } from '../../src/inbox/machineGraph.js';

describe('machineGraph', () => {
  it('lists the states and transitions of the XState definition, the current state marked', () => {
    const g = machineGraph('gate', gateMachine, 'awaitingApproval');
    expect(g.nodes.map((n) => n.label).sort()).toEqual(
      ['awaitingApproval', 'cancelled', 'deciding', 'expired', 'sent'].sort(),
    );
    expect(g.nodes.filter((n) => n.current).map((n) => n.label)).toEqual(['awaitingApproval']);
    expect(
      g.nodes
        .filter((n) => n.final)
        .map((n) => n.label)
        .sort(),
    ).toEqual(['cancelled', 'expired', 'sent']);
    expect(g.edges).toContainEqual({
      from: 'gate.awaitingApproval',
      to: 'gate.sent',
      label: 'resume',
    });
    expect(g.edges).toContainEqual({
      from: 'gate.awaitingApproval',
      to: 'gate.expired',
      label: 'expire',
    });
  });

  it('places every forward transition downwards, and no two states on top of each other', () => {
    for (const [kind, machine] of [
      ['triage', triageMachine],
      ['gate', gateMachine],
    ] as const) {
      const g = machineGraph(kind, machine);
      const at = new Map(g.nodes.map((n) => [n.id, n]));
      const retry = g.edges.find((e) => e.label === 'retry');
      for (const e of g.edges) {
        if (e === retry) continue;
        expect(at.get(e.to)?.y, `${e.from} -> ${e.to}`).toBeGreaterThan(at.get(e.from)?.y ?? 0);
      }
      for (const a of g.nodes) {
        expect(a.x).toBeGreaterThanOrEqual(0);
        expect(a.x + a.width).toBeLessThanOrEqual(g.width);
        for (const b of g.nodes) {
          if (a === b || a.y !== b.y) continue;
          expect(a.x + a.width <= b.x || b.x + b.width <= a.x, `${a.id} overlaps ${b.id}`).toBe(
            true,
          );
        }
      }
    }
    // Triage's retry goes back up to the step it retries.
    const triage = machineGraph('triage', triageMachine, 'parked');
    const byId = new Map(triage.nodes.map((n) => [n.id, n]));
    expect(byId.get('triage.classifying')?.y).toBeLessThan(byId.get('triage.parked')?.y ?? 0);
    expect(triage.nodes.find((n) => n.current)?.label).toBe('parked');
  });
});
