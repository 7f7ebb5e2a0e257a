import { render } from "preact";
import { App } from "./App";
import { bootAuth } from "./auth";
import { loadConfig } from "./config";
import "./styles.css";

async function boot(): Promise<void> {
  await loadConfig();
  // The session (if any) comes back from the httpOnly refresh cookie; the page renders meanwhile.
  void bootAuth();
  const root = document.getElementById("app");
  if (root) render(<App />, root);
}

void boot();
