// Gumshoe console: the little JavaScript every page has. Pages work without it.
"use strict";

// Detective's own profile links put the profile in the URL fragment:
//   #entities/<Type>/<id>?scopeStart=<s>&scopeEnd=<s>   or   #findings/GuardDuty/<id>?...
// Send them to the console's resolver, which opens the same profile here.
(function detectiveLinks() {
  const match = /^#(entities|findings)\/([^/?]+)\/([^?]*)(?:\?(.*))?$/.exec(window.location.hash);
  if (!match) return;
  const target = new URL("/console/detective", window.location.origin);
  const decode = (s) => { try { return decodeURIComponent(s); } catch (e) { return s; } };
  target.searchParams.set("kind", match[1]);
  target.searchParams.set("type", decode(match[2]));
  target.searchParams.set("id", decode(match[3]));
  const scope = new URLSearchParams(match[4] || "");
  for (const name of ["scopeStart", "scopeEnd"]) {
    if (scope.get(name)) target.searchParams.set(name, scope.get(name));
  }
  const region = new URLSearchParams(window.location.search).get("region");
  if (region) target.searchParams.set("region", region);
  window.location.replace(target.toString());
})();

// The search box: suggestions from the graph's entities as you type (a datalist).
document.addEventListener("DOMContentLoaded", () => {
  const input = document.querySelector("input[data-complete]");
  if (!input || !input.list) return;
  const list = input.list;
  const type = document.getElementById("search-type");
  let timer = null;
  let asked = "";
  const ask = async () => {
    const prefix = input.value;
    const kind = type ? type.value : "";
    if (!prefix || prefix + "|" + kind === asked) return;
    asked = prefix + "|" + kind;
    const url = new URL(input.dataset.complete, window.location.origin);
    url.searchParams.set("q", prefix);
    if (kind) url.searchParams.set("type", kind);
    try {
      const response = await fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } });
      if (!response.ok) return;
      const answer = await response.json();
      list.replaceChildren(...answer.values.map((v) => {
        const option = document.createElement("option");
        option.value = v.id;
        option.label = v.type;
        return option;
      }));
    } catch (e) {
      // No suggestions: the search itself still works.
    }
  };
  input.addEventListener("input", () => { clearTimeout(timer); timer = setTimeout(ask, 120); });
});
