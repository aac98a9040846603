// Evidence chips fetched and decoded ahead of time, so the next suspect appears at once.

/** A bounded cache of decoded chip images by plot id. */
export class ChipCache {
  constructor(size = 24) {
    this.size = size;
    this.images = new Map();
  }

  /** The (possibly still loading) image of ``feature``'s chip; starts loading it. */
  get(feature) {
    const id = feature.id;
    let entry = this.images.get(id);
    if (!entry) {
      const img = new Image();
      img.decoding = 'async';
      img.alt = `Evidence chip of plot ${id}`;
      img.className = 'chip-image';
      img.src = feature.properties.chip_url;
      entry = { img, ready: img.decode().then(() => true, () => false) };
      this.images.set(id, entry);
      this.trim();
    } else {
      // Most recently used last, so trimming drops the oldest.
      this.images.delete(id);
      this.images.set(id, entry);
    }
    return entry;
  }

  /** Start loading the chips of ``features`` (those with a chip). */
  prefetch(features) {
    for (const feature of features) if (feature?.properties.chip_url) this.get(feature);
  }

  trim() {
    while (this.images.size > this.size) {
      const oldest = this.images.keys().next().value;
      this.images.delete(oldest);
    }
  }
}
