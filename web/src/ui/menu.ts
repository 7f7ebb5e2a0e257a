// Keyboard behaviour of a menu button's popup (WAI-ARIA menu pattern): focus moves into the menu
// when it opens, arrow keys / Home / End move between items, Escape closes it and returns focus
// to the button.
import { useEffect, useRef } from "preact/hooks";

export function useMenu(open: boolean, close: () => void) {
  const button = useRef<HTMLButtonElement>(null);
  const menu = useRef<HTMLUListElement>(null);
  const items = () => [...(menu.current?.querySelectorAll<HTMLElement>('[role^="menuitem"]') ?? [])];

  useEffect(() => {
    if (!open) return;
    const checked = items().find((i) => i.getAttribute("aria-checked") === "true");
    (checked ?? items()[0])?.focus();
    const outside = (e: PointerEvent) => {
      const t = e.target as Node;
      if (!menu.current?.contains(t) && !button.current?.contains(t)) close();
    };
    document.addEventListener("pointerdown", outside);
    return () => document.removeEventListener("pointerdown", outside);
  }, [open]);

  const onKeyDown = (e: KeyboardEvent) => {
    const list = items();
    const at = list.indexOf(document.activeElement as HTMLElement);
    const go = (i: number) => {
      e.preventDefault();
      list[(i + list.length) % list.length]?.focus();
    };
    if (e.key === "ArrowDown") go(at + 1);
    else if (e.key === "ArrowUp") go(at - 1);
    else if (e.key === "Home") go(0);
    else if (e.key === "End") go(list.length - 1);
    else if (e.key === "Escape" || e.key === "Tab") {
      close();
      if (e.key === "Escape") button.current?.focus();
    }
  };
  return { button, menu, onKeyDown };
}
