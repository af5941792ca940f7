import { useState } from 'preact/hooks';
import { t, useLang } from '../common/i18n.ts';
import type { Light, PlaceNode } from '../common/types.ts';
import { LightDot } from '../common/widgets.tsx';

const OPEN_LEVELS = new Set(['street', 'community']);

export function PlaceTree(props: {
  roots: PlaceNode[];
  lights: Map<string, { light: Light; count: number }>;
  selected: string | null;
  onSelect: (id: string | null) => void;
}) {
  useLang();
  return (
    <nav class="tree" aria-label={t('places')}>
      <h2>{t('places')}</h2>
      <button
        type="button"
        class={`tree-all ${props.selected === null ? 'selected' : ''}`}
        onClick={() => props.onSelect(null)}
      >
        {t('allPlaces')}
      </button>
      <ul>
        {props.roots.map((n) => (
          <TreeNode key={n.id} node={n} {...props} />
        ))}
      </ul>
    </nav>
  );
}

function TreeNode(props: {
  node: PlaceNode;
  lights: Map<string, { light: Light; count: number }>;
  selected: string | null;
  onSelect: (id: string | null) => void;
}) {
  const { node } = props;
  const [open, setOpen] = useState(OPEN_LEVELS.has(node.level));
  const state = props.lights.get(node.id);
  // Units are many and rarely interesting on their own; the building is the finest level listed.
  const children = node.level === 'building' ? [] : node.children;
  return (
    <li data-place={node.id}>
      <div
        class={`tree-row light-row-${state?.light ?? 'none'} ${props.selected === node.id ? 'selected' : ''}`}
      >
        {children.length ? (
          <button
            type="button"
            class="twisty"
            aria-label="toggle"
            aria-expanded={open}
            onClick={() => setOpen(!open)}
          >
            {open ? '▾' : '▸'}
          </button>
        ) : (
          <span class="twisty" />
        )}
        <button type="button" class="tree-name" onClick={() => props.onSelect(node.id)}>
          <LightDot light={state?.light} />
          {node.name}
          {state ? <span class="count">{state.count}</span> : null}
        </button>
      </div>
      {open && children.length ? (
        <ul>
          {children.map((c) => (
            <TreeNode key={c.id} {...props} node={c} />
          ))}
        </ul>
      ) : null}
    </li>
  );
}
