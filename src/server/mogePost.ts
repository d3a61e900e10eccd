/**
 * MoGe-2's post-processing (`MoGeModel.infer` in microsoft/MoGe, `moge/model/v2.py`), which its
 * ONNX export leaves out: from the raw outputs (an affine point map known up to a z shift, a
 * soft mask, a metric scale) to a depth map in metres at the input's resolution.
 *
 * What `infer` does, step by step, and what this file reproduces:
 * 1. `mask_binary = mask > 0.5`.
 * 2. `recover_focal_shift(points, mask_binary)`: the point map, the view-plane uv grid and the
 *    mask are resized to 64×64 with nearest sampling (PyTorch's float32 index rule); the masked
 *    cells' points and uv go to `solve_optimal_focal_shift`, which minimises
 *    `|f · xy / (z + shift) − uv|` over `shift` (the focal `f` solved in closed form inside) with
 *    scipy's `least_squares(..., x0=0, ftol=1e-3, method='lm')`: MINPACK's Levenberg-Marquardt
 *    with a forward-difference Jacobian. Because `ftol` is loose the solver's stopping point
 *    matters, so `lmSolve1` below follows MINPACK's lmder/lmpar/qrsolv for one unknown step by
 *    step (scipy ≥ 1.16 defaults: `x_scale='jac'`, Jacobian step √ε·max(1, |x|), at most 100
 *    evaluations). Fewer than 2 masked cells give shift 0.
 * 3. `z += shift` (float32), `mask_binary &= z > 0`, `depth = z · metric_scale` (float32).
 * 4. Masked pixels become +∞ (`torch.where(mask_binary, depth, inf)`).
 * Depth does not depend on the focal length; it is computed too (for the trace and tests).
 */

export interface MoGeRaw {
  /** [H·W·3] row-major affine points (x, y, z per pixel), float32. */
  points: Float32Array;
  /** [H·W] soft mask in (0, 1). */
  mask?: Float32Array;
  metricScale?: number;
  width: number;
  height: number;
}

export interface MoGeDepth {
  /** [H·W] metres; +Infinity where the mask drops the pixel. */
  depth: Float32Array;
  shift: number;
  /** Focal length relative to half the image diagonal. */
  focal: number;
  /** Pixels masked out. */
  masked: number;
  /** Solver evaluations and MINPACK's `info` code (1–8). */
  solver: { nfev: number; info: number };
}

const f = Math.fround;

/** torch.linspace(start, end, steps, dtype=float32) on the CPU. */
function linspace32(start: number, end: number, steps: number): Float32Array {
  const out = new Float32Array(steps);
  const s = f(start);
  const e = f(end);
  if (steps === 1) {
    out[0] = s;
    return out;
  }
  const step = f(f(e - s) / (steps - 1));
  const half = Math.floor(steps / 2);
  for (let i = 0; i < steps; i++) out[i] = i < half ? f(s + f(step * i)) : f(e - f(step * (steps - i - 1)));
  return out;
}

/** MoGe's `normalized_view_plane_uv(width, height)` as two axes: u per column, v per row. */
export function viewPlaneUv(width: number, height: number): { u: Float32Array; v: Float32Array } {
  const aspect = width / height;
  const spanX = aspect / Math.sqrt(1 + aspect * aspect);
  const spanY = 1 / Math.sqrt(1 + aspect * aspect);
  return {
    u: linspace32((-spanX * (width - 1)) / width, (spanX * (width - 1)) / width, width),
    v: linspace32((-spanY * (height - 1)) / height, (spanY * (height - 1)) / height, height),
  };
}

/** Source indices of PyTorch's `interpolate(mode='nearest')` along one axis. */
function nearestIndex(inSize: number, outSize: number): Int32Array {
  const idx = new Int32Array(outSize);
  const scale = f(inSize / outSize);
  for (let o = 0; o < outSize; o++) {
    idx[o] = inSize === outSize ? o : Math.min(Math.floor(f(o * scale)), inSize - 1);
  }
  return idx;
}

const DWARF = 2.2250738585072014e-308;
const EPSMCH = 2.220446049250313e-16;

function enorm(v: Float64Array | number[]): number {
  let s = 0;
  for (let i = 0; i < v.length; i++) s += (v[i] as number) * (v[i] as number);
  return Math.sqrt(s);
}

/**
 * scipy `least_squares(fun, x0, ftol, method='lm')` for one unknown: MINPACK lmder with
 * `diag` from the Jacobian's column norm (mode 1), factor 100, xtol = gtol = 1e-8, at most 100
 * evaluations, forward differences with step √ε·max(1, |x|) (sign of x, + at 0).
 */
export function lmSolve1(fun: (x: number) => Float64Array, x0: number, ftol: number, xtol = 1e-8, gtol = 1e-8, maxfev = 100): { x: number; nfev: number; info: number } {
  const factor = 100;
  let x = x0;
  let fvec = fun(x);
  let nfev = 1;
  let fnorm = enorm(fvec);
  const m = fvec.length;
  let par = 0;
  let iter = 1;
  let diag = 0;
  let delta = 0;
  let xnorm = 0;
  let info = 0;
  const jacobian = (): Float64Array => {
    const sign = x >= 0 ? 1 : -1;
    let h = Math.sqrt(EPSMCH) * sign * Math.max(1, Math.abs(x));
    h = x + h - x;
    const f1 = fun(x + h);
    const j = new Float64Array(m);
    for (let i = 0; i < m; i++) j[i] = ((f1[i] as number) - (fvec[i] as number)) / h;
    return j;
  };
  for (;;) {
    const jac = jacobian();
    // qrfac for one column: R = -(signed column norm); Q^T f's first entry.
    const acnorm = enorm(jac);
    let ajnorm = acnorm;
    let r = 0;
    let qtf = 0;
    if (ajnorm !== 0) {
      if ((jac[0] as number) < 0) ajnorm = -ajnorm;
      let dot = 0;
      // Householder vector v = jac / ajnorm + e1; Q^T f = f - v (v·f) / v0.
      const v0 = (jac[0] as number) / ajnorm + 1;
      dot = v0 * (fvec[0] as number);
      for (let i = 1; i < m; i++) dot += ((jac[i] as number) / ajnorm) * (fvec[i] as number);
      qtf = (fvec[0] as number) + v0 * (-dot / v0);
      r = -ajnorm;
    } else {
      qtf = fvec[0] as number;
      r = 0;
    }
    if (iter === 1) {
      diag = acnorm === 0 ? 1 : acnorm;
      xnorm = Math.abs(diag * x);
      delta = factor * xnorm;
      if (delta === 0) delta = factor;
    }
    let gnorm = 0;
    if (fnorm !== 0 && acnorm !== 0) gnorm = Math.abs((r * (qtf / fnorm)) / acnorm);
    if (gnorm <= gtol) info = 4;
    if (info !== 0) break;
    diag = Math.max(diag, acnorm);
    for (;;) {
      const lp = lmpar1(r, diag, qtf, delta, par);
      par = lp.par;
      const p = -lp.x;
      const xTrial = x + p;
      const pnorm = Math.abs(diag * p);
      if (iter === 1) delta = Math.min(delta, pnorm);
      const fTrial = fun(xTrial);
      nfev++;
      const fnorm1 = enorm(fTrial);
      let actred = -1;
      if (0.1 * fnorm1 < fnorm) actred = 1 - (fnorm1 / fnorm) ** 2;
      const temp1 = Math.abs(r * p) / fnorm;
      const temp2 = (Math.sqrt(par) * pnorm) / fnorm;
      const prered = temp1 * temp1 + (temp2 * temp2) / 0.5;
      const dirder = -(temp1 * temp1 + temp2 * temp2);
      const ratio = prered !== 0 ? actred / prered : 0;
      if (ratio <= 0.25) {
        let temp = actred >= 0 ? 0.5 : (0.5 * dirder) / (dirder + 0.5 * actred);
        if (0.1 * fnorm1 >= fnorm || temp < 0.1) temp = 0.1;
        delta = temp * Math.min(delta, pnorm / 0.1);
        par = par / temp;
      } else if (par === 0 || ratio >= 0.75) {
        delta = pnorm / 0.5;
        par = 0.5 * par;
      }
      if (ratio >= 1e-4) {
        x = xTrial;
        xnorm = Math.abs(diag * x);
        fvec = fTrial;
        fnorm = fnorm1;
        iter++;
      }
      if (Math.abs(actred) <= ftol && prered <= ftol && 0.5 * ratio <= 1) info = 1;
      if (delta <= xtol * xnorm) info = info === 1 ? 3 : 2;
      if (info !== 0) return { x, nfev, info };
      if (nfev >= maxfev) info = 5;
      if (Math.abs(actred) <= EPSMCH && prered <= EPSMCH && 0.5 * ratio <= 1) info = 6;
      if (delta <= EPSMCH * xnorm) info = 7;
      if (gnorm <= EPSMCH) info = 8;
      if (info !== 0) return { x, nfev, info };
      if (ratio >= 1e-4) break;
    }
  }
  return { x, nfev, info };
}

/** MINPACK lmpar (with qrsolv) for a 1×1 R: the Levenberg-Marquardt parameter and step. */
function lmpar1(r: number, diag: number, qtf: number, delta: number, parIn: number): { par: number; x: number } {
  let x = r !== 0 ? qtf / r : 0;
  let dxnorm = Math.abs(diag * x);
  let fp = dxnorm - delta;
  if (fp <= 0.1 * delta) return { par: 0, x };
  let parl = 0;
  if (r !== 0) {
    const w = (diag * ((diag * x) / dxnorm)) / r;
    const temp = Math.abs(w);
    parl = fp / delta / temp / temp;
  }
  const gnorm = Math.abs((r * qtf) / diag);
  let paru = gnorm / delta;
  if (paru === 0) paru = DWARF / Math.min(delta, 0.1);
  let par = Math.max(parIn, parl);
  par = Math.min(par, paru);
  if (par === 0) par = gnorm / dxnorm;
  for (let iter = 1; ; iter++) {
    if (par === 0) par = Math.max(DWARF, 0.001 * paru);
    const s = Math.sqrt(par) * diag;
    // qrsolv: rotate the row [s] into [r] with a Givens rotation.
    let sdiag = s;
    let wa = qtf;
    let rr = r;
    if (sdiag !== 0) {
      let cos: number;
      let sin: number;
      if (Math.abs(rr) < Math.abs(sdiag)) {
        const cotan = rr / sdiag;
        sin = 0.5 / Math.sqrt(0.25 + 0.25 * cotan * cotan);
        cos = sin * cotan;
      } else {
        const tan = sdiag / rr;
        cos = 0.5 / Math.sqrt(0.25 + 0.25 * tan * tan);
        sin = cos * tan;
      }
      rr = cos * rr + sin * sdiag;
      wa = cos * wa;
    }
    sdiag = rr;
    x = sdiag !== 0 ? wa / sdiag : 0;
    dxnorm = Math.abs(diag * x);
    const prev = fp;
    fp = dxnorm - delta;
    if (Math.abs(fp) <= 0.1 * delta || (parl === 0 && fp <= prev && prev < 0) || iter === 10) return { par, x };
    const w = (diag * ((diag * x) / dxnorm)) / sdiag;
    const temp = Math.abs(w);
    const parc = fp / delta / temp / temp;
    if (fp > 0) parl = Math.max(parl, par);
    if (fp < 0) paru = Math.min(paru, par);
    par = Math.max(parl, par + parc);
  }
}

/** `recover_focal_shift(points, mask)` of MoGe (focal unknown), at the 64×64 default. */
export function recoverFocalShift(raw: MoGeRaw, maskBinary: Uint8Array | undefined, size = 64): { shift: number; focal: number; nfev: number; info: number } {
  const { width, height, points } = raw;
  const { u, v } = viewPlaneUv(width, height);
  const iy = nearestIndex(height, size);
  const ix = nearestIndex(width, size);
  const uvs: number[] = [];
  const xys: number[] = [];
  const zs: number[] = [];
  for (let oy = 0; oy < size; oy++) {
    const y = iy[oy] as number;
    for (let ox = 0; ox < size; ox++) {
      const x = ix[ox] as number;
      const p = y * width + x;
      if (maskBinary && !maskBinary[p]) continue;
      uvs.push(u[x] as number, v[y] as number);
      xys.push(points[p * 3] as number, points[p * 3 + 1] as number);
      zs.push(points[p * 3 + 2] as number);
    }
  }
  const n = zs.length;
  if (n < 2) return { shift: 0, focal: 1, nfev: 0, info: 0 };
  const proj = new Float64Array(2 * n);
  const residual = (shift: number): Float64Array => {
    let num = 0;
    let den = 0;
    for (let i = 0; i < n; i++) {
      const d = (zs[i] as number) + shift;
      const px = (xys[2 * i] as number) / d;
      const py = (xys[2 * i + 1] as number) / d;
      proj[2 * i] = px;
      proj[2 * i + 1] = py;
      num += px * (uvs[2 * i] as number) + py * (uvs[2 * i + 1] as number);
      den += px * px + py * py;
    }
    const fc = num / den;
    const err = new Float64Array(2 * n);
    for (let k = 0; k < 2 * n; k++) err[k] = fc * (proj[k] as number) - (uvs[k] as number);
    return err;
  };
  const sol = lmSolve1(residual, 0, 1e-3);
  const shift = f(sol.x);
  // The focal in float32 arithmetic, as numpy computes it with the float32 shift.
  let num = 0;
  let den = 0;
  for (let i = 0; i < n; i++) {
    const d = f((zs[i] as number) + shift);
    const px = f((xys[2 * i] as number) / d);
    const py = f((xys[2 * i + 1] as number) / d);
    num += px * (uvs[2 * i] as number) + py * (uvs[2 * i + 1] as number);
    den += px * px + py * py;
  }
  return { shift, focal: f(num / den), nfev: sol.nfev, info: sol.info };
}

/** `MoGeModel.infer(image)["depth"]` from the raw ONNX outputs (focal unknown, mask applied). */
export function mogeDepth(raw: MoGeRaw): MoGeDepth {
  const { width, height, points, mask } = raw;
  const n = width * height;
  if (points.length < n * 3) throw new Error(`MoGe points hold ${points.length} values; a ${width}×${height} map needs ${n * 3}`);
  let maskBinary: Uint8Array | undefined;
  if (mask) {
    maskBinary = new Uint8Array(n);
    for (let i = 0; i < n; i++) maskBinary[i] = (mask[i] as number) > 0.5 ? 1 : 0;
  }
  const { shift, focal, nfev, info } = recoverFocalShift(raw, maskBinary);
  const scale = raw.metricScale === undefined ? 1 : f(raw.metricScale);
  const depth = new Float32Array(n);
  let masked = 0;
  for (let i = 0; i < n; i++) {
    const z = f((points[i * 3 + 2] as number) + shift);
    // infer drops non-positive depths only through the mask; without a mask nothing is dropped.
    const keep = !maskBinary || (maskBinary[i] === 1 && z > 0);
    if (keep) depth[i] = f(z * scale);
    else {
      depth[i] = Infinity;
      masked++;
    }
  }
  return { depth, shift, focal, masked, solver: { nfev, info } };
}
