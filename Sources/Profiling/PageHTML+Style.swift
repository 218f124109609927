/// The pages' one style sheet: a light page of white cards, the summary grid, charts at 1:1 and tables.
extension PageHTML {
  // Computed: a protocol extension cannot store a property. The page asks for it once.
  static var styleSheet: String {
    """
    :root { color-scheme: light; --ink: #1d232b; --muted: #5b6573; --rule: #d8dde3; --fits: #1b7f3b; --over: #b3261e; }
    * { box-sizing: border-box; }
    body { margin: 0; background: #f6f7f9; color: var(--ink);
      font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", "Liberation Sans", sans-serif; }
    main { max-width: 1180px; margin: 0 auto; padding: 24px 20px 40px; }
    h1 { font-size: 26px; margin: 0 0 4px; }
    h2 { font-size: 18px; margin: 0 0 12px; }
    .command code { display: block; padding: 6px 10px; background: #eceff3; border-radius: 4px;
      font: 13px/1.4 ui-monospace, "DejaVu Sans Mono", "Liberation Mono", monospace; white-space: pre-wrap;
      word-break: break-all; }
    .verdict { font-size: 20px; font-weight: 600; margin: 16px 0; padding: 14px 18px; border-radius: 6px;
      background: #fff; border-left: 6px solid var(--fits); }
    .verdict.over { border-left-color: var(--over); color: var(--over); }
    .summary { display: grid; grid-template-columns: repeat(4, 1fr); gap: 12px; margin: 0 0 20px; }
    .summary div { background: #fff; border: 1px solid var(--rule); border-radius: 6px; padding: 10px 14px; }
    .summary dt { color: var(--muted); font-size: 13px; text-transform: uppercase; letter-spacing: .04em; }
    .summary dd { margin: 2px 0 0; font-size: 22px; font-weight: 600; font-variant-numeric: tabular-nums; }
    .summary dd.note { font-size: 13px; font-weight: 400; color: var(--muted); }
    section { background: #fff; border: 1px solid var(--rule); border-radius: 6px; padding: 16px 18px;
      margin: 0 0 20px; }
    svg.timeline, svg.chart { display: block; width: 100%; height: auto; }
    svg.timeline text, svg.chart text { fill: #333;
      font: 12px system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif; }
    svg.timeline .axis-title, svg.chart .axis-title { font-weight: 600; fill: #555; }
    svg.timeline .ref, svg.chart .ref { font-weight: 600; paint-order: stroke; stroke: #fff; stroke-width: 3px; }
    svg.timeline .phase { font-size: 11px; fill: #222; paint-order: stroke; stroke: #fff; stroke-width: 2.5px;
      stroke-opacity: .8; }
    .caption { color: var(--muted); font-size: 13px; margin: -6px 0 8px; }
    .flags { list-style: none; margin: -6px 0 16px; padding: 0; display: flex; gap: 8px; }
    .flags li { padding: 2px 12px; border-radius: 12px; background: #fff3cd; border: 1px solid #e6c65c;
      font-size: 13px; font-weight: 600; }
    .legend .note { color: var(--muted); }
    .legend { list-style: none; margin: 10px 0 0; padding: 0; display: flex; flex-wrap: wrap; gap: 4px 18px;
      font-size: 13px; }
    .legend li { display: flex; align-items: center; gap: 6px; }
    .legend .heading { font-weight: 600; color: var(--muted); }
    .swatch { display: inline-block; width: 14px; height: 14px; border-radius: 2px; border: 1px solid #0003; }
    .stroke { display: inline-block; width: 22px; height: 0; border-top-width: 2px; }
    .empty { color: var(--muted); font-style: italic; }
    table { border-collapse: collapse; width: 100%; font-size: 14px; }
    th, td { text-align: left; padding: 5px 10px; border-bottom: 1px solid var(--rule); vertical-align: top; }
    th { color: var(--muted); font-weight: 600; }
    td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
    tr.total td { font-weight: 700; border-top: 2px solid var(--ink); border-bottom: none; }

    """
  }
}
