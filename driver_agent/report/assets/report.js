// Draws the drivers' tracks and stops from the embedded JSON with Leaflet (SVG renderer).
// Text from the run goes into the page as text nodes only, never as HTML.
(function () {
  "use strict";
  var el = document.getElementById("map");
  var source = document.getElementById("report-data");
  if (!el || !source || typeof L === "undefined") {
    return;
  }
  var data = JSON.parse(source.textContent);
  var KINDS = {
    pickup: { colour: "#2563eb", label: "Pickups", radius: 7, fill: 0.35 },
    dropoff: { colour: "#16a34a", label: "Dropoffs", radius: 7, fill: 0.35 },
    checkin: { colour: "#f59e0b", label: "Check-ins", radius: 4, fill: 0.9 },
    checkout: { colour: "#8b5cf6", label: "Check-outs", radius: 3, fill: 0.9 },
    cancel: { colour: "#dc2626", label: "Cancellations", radius: 9, fill: 0.6 },
    relocation: { colour: "#0891b2", label: "Relocations", radius: 6, fill: 0.6 }
  };

  function tip(lines) {
    var box = document.createElement("div");
    lines.forEach(function (line) {
      if (line) {
        var row = document.createElement("div");
        row.textContent = line;
        box.appendChild(row);
      }
    });
    return box;
  }

  var map = L.map(el, { zoomSnap: 0.25, preferCanvas: false });
  if (data.tiles) {
    L.tileLayer(data.tiles, {
      maxZoom: 19,
      attribution: "&copy; OpenStreetMap contributors"
    }).addTo(map);
  }
  var bounds = L.latLngBounds([]);
  var overlays = {};
  if (data.roads && data.roads.length) {
    // the streets from the road graph: the map reads offline, with no tile server
    var roadLayer = L.layerGroup();
    data.roads.forEach(function (line) {
      roadLayer.addLayer(L.polyline(line, {
        color: "#c3cad3", weight: 3, opacity: 1, interactive: false, className: "road"
      }));
    });
    roadLayer.addTo(map);
    overlays["Roads"] = roadLayer;
  }
  var trackLayer = L.layerGroup();
  data.tracks.forEach(function (track) {
    var line = L.polyline(track.p, {
      color: track.c, weight: 3, opacity: 0.75, className: "track"
    });
    line.bindTooltip(tip(["driver " + track.id, track.p.length + " points"]), { sticky: true });
    trackLayer.addLayer(line);
    track.p.forEach(function (p) { bounds.extend(p); });
  });
  trackLayer.addTo(map);
  overlays["Driver tracks"] = trackLayer;

  var groups = {};
  data.events.forEach(function (ev) {
    var kind = KINDS[ev.k] || { colour: "#334155", label: ev.k, radius: 5, fill: 0.6 };
    if (!groups[ev.k]) {
      groups[ev.k] = L.layerGroup();
    }
    var marker = L.circleMarker([ev.lat, ev.lng], {
      radius: kind.radius, color: kind.colour, weight: 2, fillColor: kind.colour,
      fillOpacity: kind.fill, className: "event event-" + ev.k
    });
    marker.bindTooltip(tip([
      kind.label.replace(/s$/, ""),
      "driver " + ev.d,
      ev.task !== null && ev.task !== undefined ? "order " + ev.task : "",
      ev.t || ""
    ]));
    groups[ev.k].addLayer(marker);
    bounds.extend([ev.lat, ev.lng]);
  });
  Object.keys(KINDS).concat(Object.keys(groups)).forEach(function (k) {
    if (groups[k] && !overlays[(KINDS[k] || { label: k }).label]) {
      groups[k].addTo(map);
      overlays[(KINDS[k] || { label: k }).label] = groups[k];
    }
  });
  L.control.layers(null, overlays, { collapsed: false }).addTo(map);
  L.control.scale().addTo(map);
  if (bounds.isValid()) {
    map.fitBounds(bounds, { padding: [24, 24], maxZoom: 17 });
  } else {
    map.setView([0, 0], 2);
  }
  el.setAttribute("data-tracks", String(data.tracks.length));
  el.setAttribute("data-events", String(data.events.length));
  el.setAttribute("data-roads", String((data.roads || []).length));
})();
