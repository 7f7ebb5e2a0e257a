import { describe, expect, it } from "vitest";
import { resolveConfig } from "../src/urls";

describe("resolveConfig", () => {
  it("resolves relative values against the page's origin", () => {
    expect(resolveConfig({ api_base: "", ws_url: "/ws", cdn_base: "/media" }, "http://127.0.0.1:8080")).toEqual({
      apiBase: "http://127.0.0.1:8080",
      wsUrl: "ws://127.0.0.1:8080/ws",
      cdnBase: "http://127.0.0.1:8080/media",
      kakao: false,
    });
  });

  it("keeps absolute URLs and upgrades https to wss", () => {
    const c = resolveConfig({ api_base: "https://api.example.com", ws_url: "https://ws.example.com/prod", cdn_base: "https://cdn.example.com" }, "https://lait.example.com");
    expect(c.wsUrl).toBe("wss://ws.example.com/prod");
    expect(c.apiBase).toBe("https://api.example.com");
  });
});
