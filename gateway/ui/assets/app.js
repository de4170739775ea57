// The status page: polls /ui/api/state and draws it. Everything it shows
// comes from the gateway, and node names, reasons and details are words
// of nodes, peers and policies: they are set as text (textContent, SVG
// text nodes), never parsed as HTML.
'use strict';
(function () {
  const SVGNS = 'http://www.w3.org/2000/svg';
  const POLL_MS = 2000;
  const $ = (id) => document.getElementById(id);

  // el builds an HTML element: attrs are set as attributes (class, title,
  // data-*), children strings become text nodes.
  function el(tag, attrs, ...kids) { return build(document.createElement(tag), attrs, kids); }
  function sv(tag, attrs, ...kids) { return build(document.createElementNS(SVGNS, tag), attrs, kids); }
  function build(node, attrs, kids) {
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v !== undefined && v !== null && v !== false) node.setAttribute(k, String(v));
    }
    for (const kid of kids.flat(Infinity)) {
      if (kid === null || kid === undefined || kid === false) continue;
      node.appendChild(typeof kid === 'object' ? kid : document.createTextNode(String(kid)));
    }
    return node;
  }
  function clear(node) { while (node.firstChild) node.removeChild(node.firstChild); }
  function setText(id, text) { const n = $(id); if (n.textContent !== text) n.textContent = text; }

  function fmtBytes(n) {
    if (!n) return '0 B';
    const u = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
    let i = 0;
    while (n >= 1024 && i < u.length - 1) { n /= 1024; i++; }
    return (i ? n.toFixed(n < 10 ? 2 : 1) : n) + ' ' + u[i];
  }
  function fmtRate(bps) { return bps === undefined ? '—' : fmtBytes(Math.round(bps)) + '/s'; }
  function fmtNs(ns) {
    if (!ns) return '—';
    if (ns < 1e3) return ns + ' ns';
    if (ns < 1e6) return (ns / 1e3).toFixed(ns < 1e4 ? 1 : 0) + ' µs';
    if (ns < 1e9) return (ns / 1e6).toFixed(ns < 1e7 ? 2 : 1) + ' ms';
    return (ns / 1e9).toFixed(2) + ' s';
  }
  function fmtAge(ms) {
    const s = Math.max(0, Math.floor(ms / 1000));
    if (s < 60) return s + 's';
    if (s < 3600) return Math.floor(s / 60) + 'm ' + (s % 60) + 's';
    if (s < 86400) return Math.floor(s / 3600) + 'h ' + Math.floor((s % 3600) / 60) + 'm';
    return Math.floor(s / 86400) + 'd ' + Math.floor((s % 86400) / 3600) + 'h';
  }
  function clock(t) { return new Date(t).toLocaleTimeString([], { hour12: false }); }
  function words(s) { return String(s || '').replace(/_/g, ' '); }
  function short(id) { return id && id.length > 22 ? id.slice(0, 14) + '…' + id.slice(-6) : id; }
  function nodeName(full) { return String(full || '').split('@')[0]; }

  // prev keeps the last poll's byte counts, for rates.
  let prev = null;

  function rates(st) {
    const now = Date.parse(st.now);
    const cur = { t: now, links: {}, relays: {} };
    const out = { links: {}, relays: {} };
    for (const l of st.links) {
      const k = l.peer + '/' + l.transport;
      cur.links[k] = l.bytes_in + l.bytes_out;
      if (prev && prev.links[k] !== undefined && now > prev.t) out.links[k] = Math.max(0, cur.links[k] - prev.links[k]) * 1000 / (now - prev.t);
    }
    for (const r of st.relays) {
      cur.relays[r.id] = r.bytes_to_target + r.bytes_to_caller;
      if (prev && prev.relays[r.id] !== undefined && now > prev.t) out.relays[r.id] = Math.max(0, cur.relays[r.id] - prev.relays[r.id]) * 1000 / (now - prev.t);
    }
    prev = cur;
    return out;
  }

  function header(st) {
    const g = st.gateway;
    setText('gw-site', 'site ' + g.site);
    const meta = $('gw-meta');
    clear(meta);
    const up = fmtAge(Date.parse(st.now) - Date.parse(g.started));
    meta.append(
      el('span', {}, 'role ', el('b', {}, g.role)), ' · ',
      el('span', { title: g.identity }, 'identity ', el('b', { class: 'mono' }, short(g.identity))), ' · ',
      el('span', {}, 'version ', el('b', {}, g.version || 'dev')), ' · ',
      el('span', {}, 'up ', el('b', { id: 'uptime' }, up)), ' · ',
      el('span', {}, 'epmd ', el('b', { class: 'mono' }, g.epmd)), ' · ',
      el('span', {}, 'links ', el('b', { class: 'mono' }, 'quic ' + g.quic + ', tls ' + g.tls)));
    const d = g.directory;
    if (d) {
      const what = d.members + ' members (' + d.edges + ' edges), ' + d.nodes + ' nodes' +
        (d.pending && d.pending.length ? ', ' + d.pending.length + ' waiting for etcd' : '');
      meta.append(' · ', el('span', { title: d.stale ? 'etcd does not answer: serving the last known state' : 'etcd answers' },
        'directory ', el('b', { class: d.stale ? 'bad' : '' }, (d.stale ? 'stale: ' : '') + what)));
    }
    const ready = $('ready');
    ready.className = 'pill ' + (st.ready ? 'ok' : 'bad');
    ready.textContent = st.ready ? 'ready' : 'not ready';
    ready.title = st.not_ready || 'EPMD serving, no configured link down';
    setText('updated', 'updated ' + clock(st.now));
    setText('footer-id', g.identity);
  }

  function stats(st) {
    const box = $('stats');
    clear(box);
    const up = st.links.filter((l) => l.state === 'up').length;
    const items = [
      [up + ' / ' + st.links.length, 'links up'],
      [st.relays.length, 'relayed connections'],
      [st.nodes.length, 'nodes here'],
      [st.remote.length, 'remote nodes looked up'],
      [st.lookups, 'lookups'],
      [st.epmd_requests, 'EPMD requests'],
    ];
    for (const [v, k] of items) box.append(el('div', { class: 'stat' }, el('div', { class: 'v' }, v), el('div', { class: 'k' }, k)));
  }

  function empty(tbody, cols, text) { tbody.append(el('tr', {}, el('td', { class: 'empty', colspan: cols }, text))); }
  function stateCell(state, why) {
    return el('td', {}, el('span', { class: 'state ' + state }, state), why ? el('span', { class: 'why' }, why) : null);
  }
  function transportTag(t) { return el('span', { class: 'tag ' + t }, t); }

  function links(st, r) {
    const tb = $('links').tBodies[0];
    clear(tb);
    if (!st.links.length) return empty(tb, 10, 'no peer site is configured');
    for (const l of st.links) {
      tb.append(el('tr', { 'data-peer': l.peer, 'data-transport': l.transport, 'data-state': l.state },
        el('td', {}, el('b', {}, l.peer)), el('td', {}, transportTag(l.transport)), stateCell(l.state, l.down),
        el('td', { class: 'mono' }, l.remote || ''), el('td', { class: 'n' }, fmtNs(l.rtt_ns)),
        el('td', { class: 'n' }, fmtRate(r.links[l.peer + '/' + l.transport])), el('td', { class: 'n' }, l.streams),
        el('td', { class: 'n' }, fmtBytes(l.bytes_in) + ' / ' + fmtBytes(l.bytes_out)),
        el('td', { class: 'n' }, l.dials), el('td', { class: 'n' }, l.dial_failures)));
    }
  }

  function routeText(route, direction) {
    if (route === 'public') return 'public edge';
    return (direction === 'out' ? 'via ' : 'from ') + route;
  }

  function relays(st, r) {
    const tb = $('relays').tBodies[0];
    clear(tb);
    if (!st.relays.length) return empty(tb, 9, 'no relayed connection now');
    const now = Date.parse(st.now);
    for (const x of st.relays) {
      tb.append(el('tr', { 'data-relay': x.id, 'data-caller': x.caller, 'data-target': x.target },
        el('td', { class: 'mono' }, x.caller), el('td', { class: 'arrow' }, '→'), el('td', { class: 'mono' }, x.target),
        el('td', {}, routeText(x.site, x.direction)), el('td', {}, transportTag(x.transport)),
        el('td', { class: 'n' }, fmtBytes(x.bytes_to_target)), el('td', { class: 'n' }, fmtBytes(x.bytes_to_caller)),
        el('td', { class: 'n' }, fmtRate(r.relays[x.id])), el('td', { class: 'n' }, fmtAge(now - Date.parse(x.started)))));
    }
  }

  function nodes(st) {
    const tb = $('nodes').tBodies[0];
    clear(tb);
    if (!st.nodes.length) return empty(tb, 2, 'no node is registered');
    for (const n of st.nodes) {
      const name = n.host ? n.name + '@' + n.host : n.name;
      tb.append(el('tr', { 'data-node': n.name },
        el('td', { class: 'mono' }, name),
        el('td', {}, n.transports.map((t) => el('span', { class: 'tag', title: t.address }, t.proto + ' ' + t.address)))));
    }
  }

  function policies(st) {
    const tb = $('policies').tBodies[0];
    clear(tb);
    if (!st.policies.length) return empty(tb, 6, 'no policy uploaded: the configuration\'s routes and rules decide');
    for (const p of st.policies) {
      tb.append(el('tr', { 'data-policy': p.name },
        el('td', {}, el('b', {}, p.name), p.error ? el('span', { class: 'why' }, p.error) : null), el('td', {}, p.role || '—'),
        el('td', { class: 'n' }, p.version || '—'), el('td', { class: 'n' }, p.decisions),
        el('td', { class: 'n' }, p.failures), el('td', { class: 'n' }, fmtNs(p.decision_p99_ns))));
    }
  }

  function certs(st) {
    const tb = $('certs').tBodies[0];
    clear(tb);
    if (!st.certificates.length) return empty(tb, 3, 'no certificate');
    for (const c of st.certificates) {
      const days = c.not_after ? c.days_left.toFixed(1) : 'not yet';
      const cls = !c.not_after || c.days_left < 1 ? 'state down' : c.days_left < 3 ? 'state idle' : 'state up';
      tb.append(el('tr', { title: c.not_after ? 'valid until ' + new Date(c.not_after).toString() : 'not obtained yet' },
        el('td', { class: 'mono' }, c.name, c.last_error ? el('span', { class: 'why' }, c.last_error) : null),
        el('td', {}, c.issuer), el('td', { class: 'n' }, el('span', { class: cls }, days))));
    }
  }

  function refusals(st) {
    const box = $('refusals');
    clear(box);
    if (!st.refusals.length) { box.append(el('div', { class: 'none' }, 'nothing refused')); return; }
    const most = Math.max(...st.refusals.map((x) => x.count));
    for (const x of st.refusals) {
      const fill = el('div', { class: 'fill' });
      fill.style.width = Math.max(2, (100 * x.count) / most) + '%';
      box.append(el('div', { class: 'bar' }, el('div', { class: 'track' }, fill, el('div', { class: 'label' }, x.reason)),
        el('div', { class: 'count' }, x.count)));
    }
  }

  function eventText(e) {
    if (e.kind === 'link_up' || e.kind === 'link_down') {
      return [el('b', {}, e.route), ' ', e.link || e.transport, e.direction ? ' (' + e.direction + ')' : '',
        e.detail ? el('span', { class: 'detail' }, words(e.reason) + (e.reason ? ': ' : '') + e.detail) : null];
    }
    const head = [el('span', { class: 'mono' }, e.caller), ' → ', el('span', { class: 'mono' }, e.target), ' ',
      routeText(e.route, e.direction), ' (' + e.transport + ')'];
    let detail = '';
    if (e.kind === 'ended') {
      detail = words(e.reason) + ' after ' + fmtAge(e.duration_ns / 1e6) + ' · ' + fmtBytes(e.bytes_to_target || 0) + ' to target, ' +
        fmtBytes(e.bytes_to_caller || 0) + ' to caller' + (e.detail ? ' · ' + e.detail : '');
    } else if (e.kind === 'refused') {
      detail = words(e.reason) + (e.detail ? ': ' + e.detail : '');
    } else if (e.link) {
      detail = 'link ' + e.link;
    }
    return [head, detail ? el('span', { class: 'detail' }, detail) : null];
  }

  function eventsList(st) {
    const box = $('events');
    clear(box);
    if (!st.events.length) { box.append(el('li', { class: 'none' }, 'nothing happened yet')); return; }
    for (const e of st.events.slice().reverse()) {
      box.append(el('li', { 'data-kind': e.kind, 'data-seq': e.seq, title: new Date(e.time).toString() },
        el('time', {}, clock(e.time)), el('span', { class: 'kind ' + e.kind }, words(e.kind)), el('div', {}, eventText(e))));
    }
  }

  // topology draws this gateway, its nodes, the peer sites with the nodes
  // of theirs it knows, and the links between, with the relays flowing.
  function topology(st) {
    const svg = $('topology');
    const W = Math.max(svg.clientWidth || 1100, 640);
    const rows = Math.max(Math.min(st.nodes.length, 14), new Set(st.links.map((l) => l.peer)).size * 2, 3);
    const H = Math.min(560, 60 + rows * 40);
    const dir = st.gateway.directory;
    const band = dir ? directoryBand(dir, W) : null;
    const total = H + (band ? band.height : 0);
    svg.setAttribute('viewBox', '0 0 ' + W + ' ' + total);
    svg.setAttribute('height', total);
    clear(svg);
    $('legend-directory').classList.toggle('hidden', !dir);
    const gw = { x: W * 0.34, y: H / 2 };
    const peersX = W * 0.68;
    const remoteX = W * 0.9;

    const peers = [...new Set(st.links.map((l) => l.peer))];
    const remote = {};
    for (const p of peers) remote[p] = new Set();
    const busyLocal = new Set();
    const busyRemote = new Set();
    const linkBusy = {};
    for (const r of st.remote) (remote[r.site] = remote[r.site] || new Set()).add(r.node);
    for (const r of st.relays) {
      if (r.site === 'public') continue;
      const far = r.direction === 'out' ? r.target : r.caller;
      const near = r.direction === 'out' ? r.caller : r.target;
      (remote[r.site] = remote[r.site] || new Set()).add(far);
      busyLocal.add(nodeName(near));
      busyRemote.add(far);
      linkBusy[r.site + '/' + r.transport] = (linkBusy[r.site + '/' + r.transport] || 0) + 1;
    }
    const allPeers = Object.keys(remote).sort();

    const gLinks = sv('g', {});
    const gFlows = sv('g', {});
    const gNodes = sv('g', {});
    const gBoxes = sv('g', {});
    const gLabels = sv('g', {});
    svg.append(gLinks, gFlows, gNodes, gBoxes, gLabels);

    // Nodes of this site, on the left.
    const locals = st.nodes.slice(0, 14);
    locals.forEach((n, i) => {
      const y = spread(i, locals.length, H);
      const x = W * 0.07;
      gNodes.append(sv('line', { class: 't-spoke', x1: x, y1: y, x2: gw.x - 80, y2: gw.y }));
      const busy = busyLocal.has(n.name);
      if (busy) gFlows.append(sv('path', { class: 't-flow', d: 'M' + x + ' ' + y + ' L' + (gw.x - 80) + ' ' + gw.y }));
      gNodes.append(sv('circle', { class: 't-node local' + (busy ? ' busy' : ''), cx: x, cy: y, r: 7, 'data-node': n.name },
        sv('title', {}, n.name + (n.host ? '@' + n.host : ''))));
      gLabels.append(sv('text', { class: 't-label', x: x + 13, y: y + 4 }, n.name));
    });
    if (st.nodes.length > locals.length) gLabels.append(sv('text', { class: 't-sub', x: W * 0.07, y: H - 6 }, '+' + (st.nodes.length - locals.length) + ' more'));
    if (!st.nodes.length) gLabels.append(sv('text', { class: 't-empty', x: W * 0.1, y: H / 2 }, 'no node here'));

    if (band) drawDirectory(dir, band, gw, H, { gNodes, gBoxes, gLabels });

    // This gateway.
    gBoxes.append(sv('rect', { class: 't-gw', x: gw.x - 80, y: gw.y - 34, width: 160, height: 68, rx: 14, 'data-site': st.gateway.site }));
    gBoxes.append(sv('text', { class: 't-site', x: gw.x, y: gw.y - 3 }, st.gateway.site));
    gBoxes.append(sv('text', { class: 't-sub', x: gw.x, y: gw.y + 17 }, 'this gateway · ' + st.gateway.role));

    if (!allPeers.length) gLabels.append(sv('text', { class: 't-empty', x: peersX, y: H / 2 }, 'no peer site'));
    allPeers.forEach((site, i) => {
      const y = spread(i, allPeers.length, H);
      const ls = st.links.filter((l) => l.peer === site);
      const anyUp = ls.some((l) => l.state === 'up');
      const allDown = ls.length && ls.every((l) => l.state === 'down');
      ls.forEach((l, j) => {
        const off = (j - (ls.length - 1) / 2) * 16;
        const x1 = gw.x + 80, y1 = gw.y + off, x2 = peersX - 75, y2 = y + off;
        const mx = (x1 + x2) / 2;
        const d = 'M' + x1 + ' ' + y1 + ' C' + mx + ' ' + y1 + ', ' + mx + ' ' + y2 + ', ' + x2 + ' ' + y2;
        gLinks.append(sv('path', { class: 't-link ' + l.state, d: d, 'data-link': site + '/' + l.transport, 'data-state': l.state },
          sv('title', {}, site + ' over ' + l.transport + ': ' + l.state + (l.down ? ' (' + l.down + ')' : ''))));
        if (linkBusy[site + '/' + l.transport]) gFlows.append(sv('path', { class: 't-flow', d: d }));
        const label = l.transport + ' · ' + (l.state === 'up' ? fmtNs(l.rtt_ns) : l.state);
        const lx = mx, ly = (y1 + y2) / 2 + (off < 0 ? -8 : 14) - 4;
        const w = label.length * 6.6 + 14;
        gLabels.append(sv('rect', { class: 't-lbl-bg', x: lx - w / 2, y: ly - 13, width: w, height: 18, rx: 6 }));
        gLabels.append(sv('text', { class: 't-lbl ' + l.state, x: lx, y: ly }, label));
      });
      gBoxes.append(sv('rect', { class: 't-gw peer' + (allDown ? ' down' : ''), x: peersX - 75, y: y - 28, width: 150, height: 56, rx: 12, 'data-site': site }));
      gBoxes.append(sv('text', { class: 't-site', x: peersX, y: y - 2 }, site));
      gBoxes.append(sv('text', { class: 't-sub', x: peersX, y: y + 15 }, 'peer gateway' + (anyUp ? '' : allDown ? ' · down' : ' · idle')));
      const rn = [...(remote[site] || [])].sort().slice(0, 6);
      rn.forEach((full, k) => {
        const ry = y + (k - (rn.length - 1) / 2) * 24;
        gNodes.append(sv('line', { class: 't-spoke', x1: peersX + 75, y1: y, x2: remoteX, y2: ry }));
        const busy = busyRemote.has(full);
        gNodes.append(sv('circle', { class: 't-node remote' + (busy ? ' busy' : ''), cx: remoteX, cy: ry, r: 6.5, 'data-node': full },
          sv('title', {}, full)));
        gLabels.append(sv('text', { class: 't-label', x: remoteX + 11, y: ry + 4 }, nodeName(full)));
      });
    });
  }

  // directoryBand lays out the site's hosts (the directory's members
  // the gateway sent, pageMembers at most) in rows under the picture.
  function directoryBand(dir, W) {
    const hosts = dir.hosts || [];
    const left = W * 0.04, span = W * 0.62;
    const perRow = Math.max(1, Math.min(hosts.length, Math.floor(span / 128)));
    const rows = Math.max(1, Math.ceil(hosts.length / perRow));
    return { hosts: hosts, left: left, span: span, perRow: perRow, rows: rows, height: 34 + rows * 50 + 18 };
  }

  // drawDirectory draws the site's hosts as the directory holds them,
  // each attached to this gateway: role, host, and what it carries (an
  // agent's registrations, an edge's relays); stale when etcd does not
  // answer (the last known state).
  function drawDirectory(dir, band, gw, H, g) {
    const stale = dir.stale ? ' stale' : '';
    const top = H + 34;
    const bw = Math.min(118, band.span / band.perRow - 10);
    const head = 'site directory · ' + dir.members + ' member' + (dir.members === 1 ? '' : 's') + ' · ' + dir.nodes + ' node' + (dir.nodes === 1 ? '' : 's') +
      (dir.stale ? ' · stale' + (dir.stale_since ? ' since ' + clock(dir.stale_since) : '') + ': etcd does not answer' : '');
    g.gLabels.append(sv('text', { class: 't-dir-head' + stale, x: band.left, y: H + 16, 'data-directory': dir.stale ? 'stale' : 'current' }, head));
    if (!band.hosts.length) {
      g.gLabels.append(sv('text', { class: 't-empty', x: band.left + band.span / 2, y: top + 24 }, 'no member in the directory'));
      return;
    }
    // A bus from this gateway over the hosts, one drop per column (the
    // boxes, drawn above, hide it between rows).
    const colX = (col) => band.left + (band.span / band.perRow) * (col + 0.5);
    const lastCol = Math.min(band.perRow, band.hosts.length) - 1;
    const busY = top - 8;
    g.gNodes.append(sv('path', { class: 't-dir-spoke' + stale,
      d: 'M' + gw.x + ' ' + (gw.y + 34) + ' L' + gw.x + ' ' + busY + ' M' + Math.min(colX(0), gw.x) + ' ' + busY + ' L' + Math.max(colX(lastCol), gw.x) + ' ' + busY }));
    for (let col = 0; col <= lastCol; col++) {
      const rowsHere = Math.ceil((band.hosts.length - col) / band.perRow);
      g.gNodes.append(sv('line', { class: 't-dir-spoke' + stale, x1: colX(col), y1: busY, x2: colX(col), y2: top + (rowsHere - 1) * 50 }));
    }
    band.hosts.forEach((m, i) => {
      const row = Math.floor(i / band.perRow), col = i % band.perRow;
      const cx = colX(col);
      const y = top + row * 50;
      const what = m.role === 'edge' ? m.load + ' relay' + (m.load === 1 ? '' : 's') : m.nodes + ' node' + (m.nodes === 1 ? '' : 's');
      g.gBoxes.append(sv('rect', {
        class: 't-host ' + m.role + (m.self ? ' self' : '') + stale, x: cx - bw / 2, y: y, width: bw, height: 38, rx: 8,
        'data-member': m.id, 'data-role': m.role, 'data-host': m.host, 'data-stale': dir.stale ? 'true' : 'false',
      }, sv('title', {}, m.role + ' ' + m.id + ' on ' + (m.host || '?') + (m.self ? ' (this gateway)' : '') + ': ' + what +
        (dir.stale ? ' (last known: the directory is stale)' : ''))));
      g.gLabels.append(sv('text', { class: 't-host-name', x: cx, y: y + 16 }, clip(m.host || m.id, bw)));
      g.gLabels.append(sv('text', { class: 't-sub', x: cx, y: y + 31 }, clip((m.self ? 'this ' : '') + m.role + ' · ' + what, bw + 24)));
    });
    if (dir.members > band.hosts.length) {
      g.gLabels.append(sv('text', { class: 't-sub t-more', x: band.left + band.span + 10, y: top + band.rows * 50 - 18 }, '+' + (dir.members - band.hosts.length) + ' more'));
    }
  }

  // clip shortens a label to what fits a box of width w.
  function clip(s, w) {
    const n = Math.max(4, Math.floor((w - 10) / 6.6));
    return s.length > n ? s.slice(0, n - 1) + '…' : s;
  }

  function spread(i, n, H) { return n <= 1 ? H / 2 : 40 + (i * (H - 80)) / (n - 1); }

  function render(st) {
    const r = rates(st);
    header(st);
    stats(st);
    topology(st);
    links(st, r);
    relays(st, r);
    nodes(st);
    policies(st);
    certs(st);
    refusals(st);
    eventsList(st);
    document.body.setAttribute('data-updated', st.now);
  }

  function banner(text) {
    const b = $('banner');
    b.textContent = text || '';
    b.classList.toggle('hidden', !text);
  }

  // The session's key: the cookie alone reads nothing (browsers send it
  // to every port of this host, other people's servers included). The
  // login hands the key over in the fragment (/ui/#key=...), which no
  // server sees; it is kept in this origin's storage, which other ports
  // do not share, for reloads and other tabs.
  const KEY_ITEM = 'distgate.session-key';
  let key = null;
  const given = /^#key=([A-Za-z0-9_-]+)$/.exec(location.hash);
  if (given) {
    key = given[1];
    history.replaceState(null, '', location.pathname + location.search);
    try { localStorage.setItem(KEY_ITEM, key); } catch (e) { /* storage off: this tab keeps it */ }
  } else {
    try { key = localStorage.getItem(KEY_ITEM); } catch (e) { key = null; }
  }

  function signedOut() {
    try { if (localStorage.getItem(KEY_ITEM) === key) localStorage.removeItem(KEY_ITEM); } catch (e) { /* nothing kept */ }
    banner('Your session has ended: run `distgate ui` for a new login link.');
    setText('updated', 'signed out');
  }

  let last = null;
  // poll fetches the state and draws it; a failure to fetch is shown and
  // retried, a failure to draw is the page's bug and is thrown.
  async function poll() {
    let st = null;
    if (!key) { signedOut(); return; }
    try {
      const res = await fetch('/ui/api/state', { credentials: 'same-origin', cache: 'no-store', headers: { 'X-Distgate-Key': key } });
      if (res.status === 401) {
        signedOut();
        return; // no more polling
      }
      if (!res.ok) throw new Error('the gateway answered ' + res.status);
      st = await res.json();
    } catch (err) {
      banner('Cannot reach the gateway (' + err.message + '): retrying.');
      setText('updated', 'unreachable');
    }
    setTimeout(poll, POLL_MS);
    if (st) {
      banner('');
      last = st;
      render(st);
    }
  }
  window.addEventListener('resize', () => { if (last) topology(last); });
  poll();
})();
