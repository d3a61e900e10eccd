/**
 * Thumbnails for `report.html`: each image once, small (long side 128 px, JPEG), upright (the
 * frame the detections' pixel coordinates are in), as a data URL. Images that cannot be read get
 * none; the report then draws the boxes on an empty frame.
 */
import sharp from 'sharp';

export const THUMB_SIDE = 128;

export async function thumbnailDataUrl(path: string): Promise<string | undefined> {
  try {
    const buf = await sharp(path, { limitInputPixels: false })
      .rotate()
      .resize(THUMB_SIDE, THUMB_SIDE, { fit: 'inside', withoutEnlargement: true })
      .flatten({ background: '#ffffff' })
      .jpeg({ quality: 60 })
      .toBuffer();
    return `data:image/jpeg;base64,${buf.toString('base64')}`;
  } catch {
    return undefined;
  }
}
