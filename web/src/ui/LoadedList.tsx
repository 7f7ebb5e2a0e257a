import type { JSX } from "preact";

/**
 * A list loaded from the API: nothing until it is there, `empty` as a note when it has no items,
 * else a `<ul>` of what `children` makes of each item.
 */
export function LoadedList<T>({ items, empty, class: className, children }: { items: T[] | undefined; empty: string; class: string; children: (item: T) => JSX.Element }) {
  if (!items) return null;
  if (items.length === 0) return <p class="empty">{empty}</p>;
  return <ul class={className}>{items.map(children)}</ul>;
}
