// The lumos report's gallery: LUMOS_DATA (docs/report.md) as cards, sorted, filtered and paged,
// with a detail view per image. No library, no network: it works from file://.
(function () {
  'use strict';
  var D = window.LUMOS_DATA;
  var $ = function (id) { return document.getElementById(id); };

  var NAMES = { r2: 'R²', energy_in_box: 'energy in box', local_prediction: 'local prediction', time_ms: 'time' };
  function numberName(name) { return NAMES[name] || name.replace(/_/g, ' '); }
  function esc(text) {
    return String(text).replace(/[&<>"']/g, function (c) {
      return { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }[c];
    });
  }
  function fmt(value) {
    if (value === null || value === undefined) return '–';
    if (value !== 0 && Math.abs(value) < 0.001) return value.toExponential(1);
    return String(Number(value.toPrecision(4)));
  }
  function percent(p) {
    if (p === null || p === undefined) return '–';
    return p >= 0.001 ? (100 * p).toFixed(1) + '%' : (100 * p).toExponential(1) + '%';
  }
  function ms(value) { return value === undefined ? '–' : (value >= 100 ? value.toFixed(0) : fmt(value)) + ' ms'; }

  // A picture reference: a data: URI, a path relative to the page (with '/'), or a file in the image's folder.
  function url(img, ref) {
    if (!ref) return '';
    if (ref.lastIndexOf('data:', 0) === 0) return ref;
    var path = ref.indexOf('/') >= 0 || !img.d ? ref : img.d + '/' + ref;
    return path.split('/').map(encodeURIComponent).join('/');
  }

  // ---- Entries: one per image and target, one per image that was not explained ----
  var entries = [];
  D.images.forEach(function (img, i) {
    if (img.err || !img.t || img.t.length === 0) entries.push({ img: img, t: null, i: i });
    else img.t.forEach(function (t, k) { entries.push({ img: img, t: t, i: i, k: k }); });
  });
  function top(e) { return e.img.p && e.img.p.length ? e.img.p[0] : null; }
  function methodOf(e, k) {
    if (!e.t) return null;
    for (var j = 0; j < e.t.m.length; j++) if (e.t.m[j].k === k) return e.t.m[j];
    return null;
  }
  function title(e) {
    var several = e.t && e.img.t.length > 1;
    return e.img.i + (several ? ' — ' + e.t.l : '');
  }

  // ---- Sort keys: fixed ones, then every method's time and numbers ----
  var sorts = [
    { id: 'order', label: 'as listed', value: function (e) { return e.i; } },
    { id: 'name', label: 'image name', value: function (e) { return e.img.i.toLowerCase(); } },
    { id: 'probability', label: 'top probability', value: function (e) { var p = top(e); return p ? p[2] : null; } },
    { id: 'target-probability', label: 'target probability', value: function (e) { return e.t ? e.t.p : null; } },
    { id: 'predicted', label: 'predicted class', value: function (e) { var p = top(e); return p ? p[1].toLowerCase() : null; } },
    { id: 'target', label: 'explained target', value: function (e) { return e.t ? e.t.l.toLowerCase() : null; } }
  ];
  D.methods.forEach(function (m, k) {
    m.numbers.forEach(function (name) {
      sorts.push({ id: m.name + ':' + name, label: m.title + ' ' + numberName(name), value: function (e) {
        var r = methodOf(e, k); return r && r.x && r.x[name] !== undefined ? r.x[name] : null;
      } });
    });
    sorts.push({ id: m.name + ':time', label: m.title + ' time', value: function (e) {
      var r = methodOf(e, k); return r && r.ms !== undefined ? r.ms : null;
    } });
  });
  var defaultDirection = { probability: 1, 'target-probability': 1 };  // lowest first: the doubtful ones

  // ---- Controls ----
  var controls = {
    filter: $('filter'), predicted: $('predicted'), target: $('target'), run: $('run'), status: $('status'),
    sort: $('sort'), direction: $('direction'), pageSize: $('page-size')
  };
  function fillSelect(select, counts, allLabel) {
    var names = Object.keys(counts).sort(function (a, b) { return counts[b] - counts[a] || a.localeCompare(b); });
    select.innerHTML = '<option value="">' + esc(allLabel) + '</option>' + names.map(function (n) {
      return '<option value="' + esc(n) + '">' + esc(n) + ' (' + counts[n] + ')</option>';
    }).join('');
  }
  var predictedCounts = {}, targetCounts = {};
  entries.forEach(function (e) {
    var p = top(e);
    if (p) predictedCounts[p[1]] = (predictedCounts[p[1]] || 0) + 1;
    if (e.t) targetCounts[e.t.l] = (targetCounts[e.t.l] || 0) + 1;
  });
  fillSelect(controls.predicted, predictedCounts, 'any class');
  fillSelect(controls.target, targetCounts, 'any target');
  if (D.runs.length > 1) {
    $('run-control').hidden = false;
    controls.run.innerHTML = '<option value="">all runs</option>' + D.runs.map(function (r, i) {
      return '<option value="' + i + '">' + esc(r) + '</option>';
    }).join('');
  }
  controls.sort.innerHTML = sorts.map(function (s) {
    return '<option value="' + esc(s.id) + '">' + esc(s.label) + '</option>';
  }).join('');

  var state = { direction: 1, page: 0, list: [] };
  function setDirection(direction) {
    state.direction = direction;
    controls.direction.textContent = direction > 0 ? '↑ lowest first' : '↓ highest first';
    controls.direction.setAttribute('aria-label', 'Sort direction: ' + controls.direction.textContent);
  }
  setDirection(1);

  function matches(e) {
    var text = controls.filter.value.trim().toLowerCase();
    var p = top(e);
    if (controls.predicted.value && (!p || p[1] !== controls.predicted.value)) return false;
    if (controls.target.value && (!e.t || e.t.l !== controls.target.value)) return false;
    if (controls.run.value !== '' && String(e.img.r) !== controls.run.value) return false;
    if (controls.status.value === 'ok' && e.img.err) return false;
    if (controls.status.value === 'failed' && !e.img.err) return false;
    if (!text) return true;
    var haystack = [e.img.i, p ? p[1] : '', e.t ? e.t.l : '', e.img.err || ''].join('\n').toLowerCase();
    return haystack.indexOf(text) >= 0;
  }

  function update(keepPage) {
    var sort = sorts.filter(function (s) { return s.id === controls.sort.value; })[0] || sorts[0];
    var list = entries.filter(matches).map(function (e) { return { e: e, v: sort.value(e) }; });
    var direction = state.direction;
    list.sort(function (a, b) {
      if (a.v === null && b.v === null) return a.e.i - b.e.i;
      if (a.v === null) return 1;  // entries without the value go last either way
      if (b.v === null) return -1;
      if (a.v < b.v) return -direction;
      if (a.v > b.v) return direction;
      return a.e.i - b.e.i || (a.e.k || 0) - (b.e.k || 0);
    });
    state.list = list.map(function (x) { return x.e; });
    if (!keepPage) state.page = 0;
    render();
  }

  // ---- The grid ----
  function pageSize() { return Number(controls.pageSize.value); }
  function pages() { return Math.max(1, Math.ceil(state.list.length / pageSize())); }

  function thumb(img, ref, alt, caption) {
    var picture = ref ? '<img src="' + esc(url(img, ref)) + '" alt="' + esc(alt) + '" loading="lazy" decoding="async">'
                      : '<span class="missing" role="img" aria-label="' + esc(alt) + ' (missing)"></span>';
    return '<figure>' + picture + '<figcaption>' + esc(caption) + '</figcaption></figure>';
  }

  function keyNumbers(e) {
    var out = [];
    if (!e.t) return '';
    e.t.m.forEach(function (r) {
      if (!r.x) return;
      var m = D.methods[r.k];
      ['r2', 'energy_in_box'].concat(Object.keys(r.x)).some(function (name) {
        if (r.x[name] === undefined || name === 'segments' || name === 'samples') return false;
        out.push(m.title + ' ' + numberName(name) + ' ' + fmt(r.x[name]));
        return true;
      });
    });
    return out.join(' · ');
  }

  function card(e, n) {
    var img = e.img, p = top(e);
    var html = '<li><button type="button" class="card' + (img.err ? ' failed' : '') + '" data-n="' + n + '">';
    if (img.err) {
      html += '<div class="name">' + esc(img.i) + '</div><div class="facts error">' + esc(img.err) + '</div>';
      return html + '</button></li>';
    }
    html += '<div class="thumbs">' + thumb(img, img.th, 'input ' + img.i, 'input');
    (e.t ? e.t.m : []).forEach(function (r) {
      var m = D.methods[r.k];
      html += thumb(img, r.th, m.title + ' for ' + e.t.l, m.title + (r.e ? ' (empty)' : ''));
    });
    html += '</div><div class="name">' + esc(img.i) + '</div><div class="facts">';
    if (p) html += '<b class="predicted">' + esc(p[1]) + '</b> <span class="probability">' + percent(p[2]) + '</span>';
    if (e.t && (!p || e.t.c !== p[0])) html += ' · target <b class="target">' + esc(e.t.l) + '</b> ' + percent(e.t.p);
    var numbers = keyNumbers(e);
    if (numbers) html += '<div class="numbers">' + esc(numbers) + '</div>';
    return html + '</div></button></li>';
  }

  function render() {
    var size = pageSize();
    state.page = Math.min(state.page, pages() - 1);
    var first = state.page * size, shown = state.list.slice(first, first + size);
    var html = [];
    for (var j = 0; j < shown.length; j++) html.push(card(shown[j], first + j));
    $('grid').innerHTML = html.join('');
    $('page').textContent = state.list.length === 0 ? 'no image matches'
      : 'page ' + (state.page + 1) + ' of ' + pages() + ' · images ' + (first + 1) + '–' + (first + shown.length) +
        ' of ' + state.list.length;
    $('previous-page').disabled = state.page === 0;
    $('next-page').disabled = state.page >= pages() - 1;
  }

  function goToPage(page, focus) {
    if (page < 0 || page >= pages()) return;
    state.page = page;
    render();
    if (focus) focusCard(focus === 'last' ? pageCards().length - 1 : 0);
  }
  function pageCards() { return $('grid').querySelectorAll('.card'); }
  function focusCard(j) {
    var cards = pageCards();
    if (cards.length) cards[Math.max(0, Math.min(cards.length - 1, j))].focus();
  }
  function columns() {
    var cards = pageCards(), n = 0;
    while (n < cards.length && cards[n].offsetTop === cards[0].offsetTop) n++;
    return Math.max(1, n);
  }

  // ---- The detail view ----
  var detail = $('detail'), current = -1;

  function boxes(img) {
    if (!img.b || !img.z) return '';
    return img.b.map(function (b) {
      var w = img.z[0], h = img.z[1];
      return '<span class="box" style="left:' + (100 * b[0] / w) + '%;top:' + (100 * b[1] / h) + '%;width:' +
        (100 * (b[2] - b[0]) / w) + '%;height:' + (100 * (b[3] - b[1]) / h) + '%"></span>';
    }).join('');
  }
  function figure(img, ref, alt, caption, facts, withBoxes) {
    if (!ref) return '';
    var link = url(img, ref), linked = link.lastIndexOf('data:', 0) !== 0;
    var picture = '<img src="' + esc(link) + '" alt="' + esc(alt) + '">';
    return '<figure><div class="frame">' + (linked ? '<a href="' + esc(link) + '">' + picture + '</a>' : picture) +
      (withBoxes ? boxes(img) : '') + '</div><figcaption><b>' + esc(caption) + '</b>' + esc(facts || '') +
      '</figcaption></figure>';
  }
  function bar(value, scale, negative) {
    return '<span class="bar' + (negative ? ' negative' : '') + '" style="width:' +
      Math.round(80 * Math.min(1, Math.abs(value) / (scale || 1))) + 'px"></span>';
  }
  function table(caption, head, rows) {
    return '<section><h3>' + esc(caption) + '</h3><table><thead><tr>' + head.map(function (h) {
      return '<th scope="col">' + esc(h) + '</th>';
    }).join('') + '</tr></thead><tbody>' + rows.join('') + '</tbody></table></section>';
  }

  function detailBody(e) {
    var img = e.img;
    if (img.err) return '<p class="error">' + esc(img.err) + '</p>' + settingsTable(img);
    if (!e.t) e = { img: img, t: { c: -1, l: '', m: [] } };  // predictions only
    var html = '<div class="pictures">' +
      figure(img, img['in'], 'input ' + img.i, 'input', img.z ? img.z[0] + '×' + img.z[1] + ' px' : '', true);
    e.t.m.forEach(function (r) {
      var m = D.methods[r.k], facts = [ms(r.ms)];
      if (r.x) Object.keys(r.x).forEach(function (name) { facts.push(numberName(name) + ' ' + fmt(r.x[name])); });
      if (r.e) facts.push('empty map: no positive evidence');
      html += figure(img, r.f, m.title + ' for ' + e.t.l, m.title + ' · ' + e.t.l, facts.join(' · '), true);
      if (r.pic) Object.keys(r.pic).forEach(function (role) {
        html += figure(img, r.pic[role], m.title + ' ' + role, m.title + ' ' + role, '', false);
      });
    });
    html += '</div><div class="tables">';
    html += table('Top predictions', ['#', 'class', 'label', 'probability', 'score', ''], (img.p || []).map(function (p, j) {
      return '<tr' + (e.t.c === p[0] ? ' class="explained"' : '') + '><td>' + (j + 1) + '</td><td class="number">' + p[0] +
        '</td><td>' + esc(p[1]) + (e.t.c === p[0] ? ' (explained)' : '') + '</td><td class="number">' + percent(p[2]) +
        '</td><td class="number">' + fmt(p[3]) + '</td><td>' + bar(p[2], 1) + '</td></tr>';
    }));
    var methodRows = e.t.m.map(function (r) {
      var m = D.methods[r.k], split = r.tp ? Object.keys(r.tp).map(function (k) { return k + ' ' + ms(r.tp[k]); }).join(', ') : '';
      var numbers = r.x ? Object.keys(r.x).map(function (k) { return numberName(k) + ' ' + fmt(r.x[k]); }).join(', ') : '';
      return '<tr><th scope="row">' + esc(m.title) + '</th><td class="number">' + ms(r.ms) + '</td><td>' + esc(split) +
        '</td><td>' + esc(numbers) + (r.w ? ' <span class="error">' + esc(r.w) + '</span>' : '') + '</td></tr>';
    });
    html += table('Methods', ['method', 'time', 'time split', 'numbers'], methodRows);
    e.t.m.forEach(function (r) {
      if (!r.wt) return;
      var largest = r.wt.reduce(function (a, w) { return Math.max(a, Math.abs(w[1])); }, 0);
      html += table(D.methods[r.k].title + ' weights (' + r.wt.length + ' segments)', ['segment', 'weight', ''],
        r.wt.map(function (w) {
          return '<tr><td class="number">' + w[0] + '</td><td class="number">' + fmt(w[1]) + '</td><td>' +
            bar(w[1], largest, w[1] < 0) + '</td></tr>';
        }));
    });
    return html + settingsTable(img) + '</div>';
  }

  function settingsRows(settings) {
    return Object.keys(settings).map(function (k) {
      return '<tr><th scope="row">' + esc(k) + '</th><td>' + esc(settings[k]) + '</td></tr>';
    });
  }
  function settingsTable(img) {
    var rows = ['<tr><th scope="row">run</th><td>' + esc(D.runs[img.r]) + '</td></tr>'];
    if (img.d) rows.push('<tr><th scope="row">folder</th><td><a href="' + esc(url(img, 'explanation.json')) + '">' +
                         esc(img.d) + '/explanation.json</a></td></tr>');
    if (img.s !== undefined) rows = rows.concat(settingsRows(D.settings[img.s]));
    return table('Settings', ['setting', 'value'], rows);
  }

  function openDetail(n) {
    if (n < 0 || n >= state.list.length) return;
    current = n;
    var e = state.list[n];
    $('detail-title').textContent = title(e);
    $('detail-position').textContent = (n + 1) + ' of ' + state.list.length;
    $('detail-previous').disabled = n === 0;
    $('detail-next').disabled = n === state.list.length - 1;
    $('detail-body').innerHTML = detailBody(e);
    if (!detail.open) detail.showModal();
  }
  function closeDetail() { if (detail.open) detail.close(); }
  detail.addEventListener('close', function () {
    // Back in the grid at the image last shown.
    var size = pageSize(), page = Math.floor(current / size);
    if (page !== state.page) { state.page = page; render(); }
    focusCard(current - page * size);
  });

  // ---- Events ----
  ['filter', 'predicted', 'target', 'run', 'status'].forEach(function (name) {
    controls[name].addEventListener(name === 'filter' ? 'input' : 'change', function () { update(false); });
  });
  controls.sort.addEventListener('change', function () {
    setDirection(defaultDirection[controls.sort.value] || (controls.sort.value.indexOf(':') >= 0 ? -1 : 1));
    update(false);
  });
  controls.direction.addEventListener('click', function () { setDirection(-state.direction); update(false); });
  controls.pageSize.addEventListener('change', function () { update(false); });
  $('controls').addEventListener('submit', function (event) { event.preventDefault(); });
  $('previous-page').addEventListener('click', function () { goToPage(state.page - 1); });
  $('next-page').addEventListener('click', function () { goToPage(state.page + 1); });
  $('grid').addEventListener('click', function (event) {
    var target = event.target.closest('.card');
    if (target) openDetail(Number(target.getAttribute('data-n')));
  });
  $('detail-previous').addEventListener('click', function () { openDetail(current - 1); });
  $('detail-next').addEventListener('click', function () { openDetail(current + 1); });
  $('detail-close').addEventListener('click', closeDetail);

  document.addEventListener('keydown', function (event) {
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    var typing = /^(INPUT|SELECT|TEXTAREA)$/.test(document.activeElement.tagName);
    if (detail.open) {
      if (event.key === 'ArrowLeft') { openDetail(current - 1); event.preventDefault(); }
      if (event.key === 'ArrowRight') { openDetail(current + 1); event.preventDefault(); }
      return;  // Esc closes the dialog by itself
    }
    if (event.key === '/' && !typing) { controls.filter.focus(); controls.filter.select(); event.preventDefault(); return; }
    if (event.key === 'Escape' && document.activeElement === controls.filter) { focusCard(0); return; }
    if (typing) return;
    if (event.key === 'n' || event.key === 'PageDown') { goToPage(state.page + 1, 'first'); event.preventDefault(); return; }
    if (event.key === 'p' || event.key === 'PageUp') { goToPage(state.page - 1, 'first'); event.preventDefault(); return; }
    var active = document.activeElement;
    if (!active.classList || !active.classList.contains('card')) {
      if (/^Arrow/.test(event.key) && !/^BUTTON$/.test(active.tagName)) { focusCard(0); event.preventDefault(); }
      return;
    }
    var cards = Array.prototype.slice.call(pageCards()), j = cards.indexOf(active);
    var step = { ArrowLeft: -1, ArrowRight: 1, ArrowUp: -columns(), ArrowDown: columns(), Home: -j,
                 End: cards.length - 1 - j }[event.key];
    if (step === undefined) return;
    event.preventDefault();
    var to = j + step;
    if (to < 0) goToPage(state.page - 1, 'last');
    else if (to >= cards.length) goToPage(state.page + 1, 'first');
    else cards[to].focus();
  });

  // ---- The header ----
  var thumbs = 1;  // the input's and one per method of the target with the most
  entries.forEach(function (e) { if (e.t) thumbs = Math.max(thumbs, 1 + e.t.m.length); });
  $('grid').style.setProperty('--thumbs', Math.min(thumbs, 6));
  document.title = D.title;
  $('title').textContent = D.title;
  var failed = D.images.filter(function (img) { return img.err; }).length;
  $('summary').textContent = D.images.length + ' images' + (failed ? ' (' + failed + ' not explained)' : '') + ' · ' +
    D.methods.map(function (m) { return m.title; }).join(', ') + (D.runs.length > 1 ? ' · ' + D.runs.length + ' runs' : '');
  if (D.notes.length) {
    $('notes').hidden = false;
    $('notes').innerHTML = D.notes.map(function (n) { return '<li>' + esc(n) + '</li>'; }).join('');
  }
  var counts = D.settings.map(function () { return 0; });
  D.images.forEach(function (img) { if (img.s !== undefined) counts[img.s]++; });
  $('settings-body').innerHTML = '<p>Runs: ' + D.runs.map(esc).join(', ') + '</p>' + D.settings.map(function (s, i) {
    return table(D.settings.length > 1 ? 'Settings ' + (i + 1) + ' (' + counts[i] + ' images)' : 'Settings', ['setting', 'value'],
                 settingsRows(s));
  }).join('');

  update(false);
  window.lumosGallery = { entries: entries, state: state, openDetail: openDetail };  // for tests and the console
})();
