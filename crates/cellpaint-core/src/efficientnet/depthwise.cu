// Depthwise 2-D convolution on CUDA (f32, NCHW, weight (C, 1, k, k), symmetric padding p,
// stride s): the forward pass and the two gradients of depthwise.rs, one thread per output
// element (grid-stride loops) and, for the weight gradient, one block per tap whose threads
// reduce in a fixed order, so that results repeat bit for bit.

extern "C" __global__ void depthwise_fwd(
    const float* __restrict__ x, const float* __restrict__ w, float* __restrict__ y,
    int n, int c, int h, int wd, int k, int s, int p, int oh, int ow)
{
    const long total = (long)n * c * oh * ow;
    for (long idx = blockIdx.x * (long)blockDim.x + threadIdx.x; idx < total;
         idx += (long)gridDim.x * blockDim.x) {
        const int a = idx % ow;
        const int o = (idx / ow) % oh;
        const long plane = idx / ((long)oh * ow);  // batch · c + channel
        const int ch = plane % c;
        const float* xp = x + plane * h * wd;
        const float* wp = w + (long)ch * k * k;
        float acc = 0.f;
        for (int i = 0; i < k; ++i) {
            const int yy = o * s - p + i;
            if (yy < 0 || yy >= h) continue;
            for (int j = 0; j < k; ++j) {
                const int xx = a * s - p + j;
                if (xx < 0 || xx >= wd) continue;
                acc += xp[yy * wd + xx] * wp[i * k + j];
            }
        }
        y[idx] = acc;
    }
}

extern "C" __global__ void depthwise_grad_input(
    const float* __restrict__ gy, const float* __restrict__ w, float* __restrict__ gx,
    int n, int c, int h, int wd, int k, int s, int p, int oh, int ow)
{
    const long total = (long)n * c * h * wd;
    for (long idx = blockIdx.x * (long)blockDim.x + threadIdx.x; idx < total;
         idx += (long)gridDim.x * blockDim.x) {
        const int xx = idx % wd;
        const int yy = (idx / wd) % h;
        const long plane = idx / ((long)h * wd);
        const int ch = plane % c;
        const float* gp = gy + plane * oh * ow;
        const float* wp = w + (long)ch * k * k;
        float acc = 0.f;
        for (int i = 0; i < k; ++i) {
            const int t = yy + p - i;
            if (t < 0 || t % s != 0 || t / s >= oh) continue;
            const int o = t / s;
            for (int j = 0; j < k; ++j) {
                const int u = xx + p - j;
                if (u < 0 || u % s != 0 || u / s >= ow) continue;
                acc += gp[o * ow + u / s] * wp[i * k + j];
            }
        }
        gx[idx] = acc;
    }
}

#define GRAD_WEIGHT_THREADS 256

// One block per (channel, i, j): Σ over batch and output positions of input × output gradient.
extern "C" __global__ void depthwise_grad_weight(
    const float* __restrict__ x, const float* __restrict__ gy, float* __restrict__ gw,
    int n, int c, int h, int wd, int k, int s, int p, int oh, int ow)
{
    __shared__ float partial[GRAD_WEIGHT_THREADS];
    const int tap = blockIdx.x;  // ch · k² + i · k + j
    const int ch = tap / (k * k);
    const int i = (tap / k) % k;
    const int j = tap % k;
    const long per_image = (long)oh * ow;
    const long total = (long)n * per_image;
    float acc = 0.f;
    for (long m = threadIdx.x; m < total; m += blockDim.x) {
        const int b = m / per_image;
        const int o = (m % per_image) / ow;
        const int a = m % ow;
        const int yy = o * s - p + i;
        const int xx = a * s - p + j;
        if (yy < 0 || yy >= h || xx < 0 || xx >= wd) continue;
        const long plane = (long)b * c + ch;
        acc += x[plane * h * wd + yy * wd + xx] * gy[plane * per_image + o * ow + a];
    }
    partial[threadIdx.x] = acc;
    __syncthreads();
    for (int stride = blockDim.x / 2; stride > 0; stride /= 2) {
        if (threadIdx.x < stride) partial[threadIdx.x] += partial[threadIdx.x + stride];
        __syncthreads();
    }
    if (threadIdx.x == 0) gw[tap] = partial[0];
}
