// nnfab HLS kernel library: the io_stream dataflow architecture.
//
// Every tensor flows as a stream of words, one word per spatial position holding all
// C channels (nnfab::word<T, C>); a rank-1 tensor (N,) is one word of N values. Layers
// are processes of one DATAFLOW region: each reads its input words in raster order
// and writes its output words as soon as they are computable (see
// generator/backends/hls/dataflow.py, which models exactly these read/write orders
// to size the FIFOs).
//
// nnfab::stream<T> is hls::stream<T> for synthesis and the vendor C-simulation. With
// NNFAB_CSIM_THREADS (nnfab's own C-simulation) it is a bounded FIFO of the depth set
// by csim_depth(), and the top function runs every process in its own thread (threads
// kept in a pool from one call to the next), so the C-simulation behaves like the
// hardware: a FIFO that is too shallow deadlocks, which is detected (every live process
// blocked) and reported with each FIFO's state.
#ifndef NNFAB_STREAM_H_
#define NNFAB_STREAM_H_

#if defined(NNFAB_CSIM_THREADS) && !defined(__SYNTHESIS__)
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <functional>
#include <memory>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>
#endif

namespace nnfab {

// All channels of one spatial position.
template <class T, int N>
struct word {
    T v[N];
};

#if defined(NNFAB_CSIM_THREADS) && !defined(__SYNTHESIS__)
namespace csim {

class fifo_base {
  public:
    virtual ~fifo_base() {}
    virtual void describe(std::FILE* f) const = 0;
};

// Process bookkeeping for deadlock detection (one dataflow region runs at a time).
struct scheduler {
    std::mutex m;
    int live = 0;
    int blocked = 0;
    std::vector<const fifo_base*> fifos;
    std::map<std::string, std::pair<int, int> > stats;  // name -> (depth, max occupancy)
};

inline scheduler& sched() {
    static scheduler s;
    return s;
}

// Called with the lock held whenever a process blocks or ends.
inline void check_deadlock(scheduler& s) {
    if (s.live > 0 && s.blocked == s.live) {
        std::fprintf(stderr, "nnfab csim error: dataflow deadlock (every process waits on a FIFO); "
                             "FIFO states:\n");
        for (const fifo_base* f : s.fifos) f->describe(stderr);
        std::fflush(stderr);
        std::_Exit(3);
    }
}

// Depth overrides for experiments: NNFAB_FIFO_DEPTHS="s_a=3,s_b=10".
inline int depth_override(const char* name, int depth) {
    const char* env = std::getenv("NNFAB_FIFO_DEPTHS");
    if (!env) return depth;
    std::string all(env), key(name);
    size_t pos = 0;
    while (pos <= all.size()) {
        size_t end = all.find(',', pos);
        if (end == std::string::npos) end = all.size();
        std::string item = all.substr(pos, end - pos);
        size_t eq = item.find('=');
        if (eq != std::string::npos && item.substr(0, eq) == key) return std::atoi(item.c_str() + eq + 1);
        pos = end + 1;
    }
    return depth;
}

template <class T>
class fifo : public fifo_base {
  public:
    explicit fifo(const char* name = "fifo") : name_(name) {
        scheduler& s = sched();
        std::lock_guard<std::mutex> lk(s.m);
        s.fifos.push_back(this);
    }
    ~fifo() {
        scheduler& s = sched();
        std::lock_guard<std::mutex> lk(s.m);
        for (size_t i = 0; i < s.fifos.size(); i++) {
            if (s.fifos[i] == this) {
                s.fifos.erase(s.fifos.begin() + i);
                break;
            }
        }
        std::pair<int, int>& st = s.stats[name_];
        st.first = depth_;
        st.second = st.second > max_ ? st.second : max_;
    }
    void set_depth(int d) { depth_ = depth_override(name_.c_str(), d); }
    void write(const T& v) {
        scheduler& s = sched();
        std::unique_lock<std::mutex> lk(s.m);
        while ((int)q_.size() >= depth_) {
            wwait_ = true;
            s.blocked++;
            check_deadlock(s);
            cw_.wait(lk, [this] { return !wwait_; });
        }
        q_.push_back(v);
        if ((int)q_.size() > max_) max_ = (int)q_.size();
        if (rwait_) {
            rwait_ = false;
            s.blocked--;
            cr_.notify_one();
        }
    }
    T read() {
        scheduler& s = sched();
        std::unique_lock<std::mutex> lk(s.m);
        while (q_.empty()) {
            rwait_ = true;
            s.blocked++;
            check_deadlock(s);
            cr_.wait(lk, [this] { return !rwait_; });
        }
        T v = q_.front();
        q_.pop_front();
        if (wwait_) {
            wwait_ = false;
            s.blocked--;
            cw_.notify_one();
        }
        return v;
    }
    void read(T& v) { v = read(); }
    void write_nb(const T& v) { write(v); }
    bool empty() {
        std::lock_guard<std::mutex> lk(sched().m);
        return q_.empty();
    }
    int size() {
        std::lock_guard<std::mutex> lk(sched().m);
        return (int)q_.size();
    }
    void describe(std::FILE* f) const override {
        std::fprintf(f, "  %s: %d of depth %d%s%s\n", name_.c_str(), (int)q_.size(), depth_,
                     wwait_ ? ", writer waits" : "", rwait_ ? ", reader waits" : "");
    }

  private:
    std::string name_;
    int depth_ = 1 << 30;
    int max_ = 0;
    std::deque<T> q_;
    bool rwait_ = false, wwait_ = false;
    std::condition_variable cr_, cw_;
};

// The threads that run dataflow processes, kept from one call to the next: a task per
// idle thread, a new thread when none is idle (the pool grows to the largest region).
class pool {
  public:
    static pool& get() {
        static pool p;
        return p;
    }
    // Runs every task at once, each in its own thread; returns when all have ended.
    void run(std::vector<std::function<void()> >& tasks) {
        std::unique_lock<std::mutex> lk(m_);
        int pending = (int)tasks.size();
        std::condition_variable done;
        size_t next = 0;
        for (size_t i = 0; i < workers_.size() && next < tasks.size(); i++)
            if (!workers_[i]->task) give(*workers_[i], &tasks[next++], &pending, &done);
        while (next < tasks.size()) {
            workers_.emplace_back(new worker());
            worker* w = workers_.back().get();
            give(*w, &tasks[next++], &pending, &done);
            w->t = std::thread([this, w] { loop(w); });
        }
        done.wait(lk, [&pending] { return pending == 0; });
    }
    ~pool() {
        {
            std::lock_guard<std::mutex> lk(m_);
            stop_ = true;
            for (auto& w : workers_) w->cv.notify_one();
        }
        for (auto& w : workers_) w->t.join();
    }

  private:
    struct worker {
        std::thread t;
        std::condition_variable cv;
        std::function<void()>* task = nullptr;
        int* pending = nullptr;
        std::condition_variable* done = nullptr;
    };
    static void give(worker& w, std::function<void()>* task, int* pending,
                     std::condition_variable* done) {
        w.task = task;
        w.pending = pending;
        w.done = done;
        w.cv.notify_one();
    }
    void loop(worker* w) {
        std::unique_lock<std::mutex> lk(m_);
        for (;;) {
            w->cv.wait(lk, [this, w] { return stop_ || w->task != nullptr; });
            if (w->task == nullptr) return;
            std::function<void()>* f = w->task;
            lk.unlock();
            (*f)();
            lk.lock();
            w->task = nullptr;
            if (--*w->pending == 0) w->done->notify_one();
        }
    }
    std::mutex m_;
    std::vector<std::unique_ptr<worker> > workers_;
    bool stop_ = false;
};

// Runs the processes of one dataflow region, each in a thread of the pool; waits for them
// on destruction.
class dataflow {
  public:
    explicit dataflow(int n) {
        scheduler& s = sched();
        std::lock_guard<std::mutex> lk(s.m);
        s.live = n;
        s.blocked = 0;
    }
    template <class F>
    void spawn(F f) {
        tasks_.emplace_back([f] {
            f();
            scheduler& s = sched();
            std::lock_guard<std::mutex> lk(s.m);
            s.live--;
            check_deadlock(s);
        });
    }
    ~dataflow() { pool::get().run(tasks_); }

  private:
    std::vector<std::function<void()> > tasks_;
};

// Write "name depth max_occupancy" per FIFO (max over every call) to path.
inline void write_fifo_stats(const char* path) {
    std::FILE* f = std::fopen(path, "w");
    if (!f) return;
    scheduler& s = sched();
    std::lock_guard<std::mutex> lk(s.m);
    for (const auto& kv : s.stats) std::fprintf(f, "%s %d %d\n", kv.first.c_str(), kv.second.first, kv.second.second);
    std::fclose(f);
}

}  // namespace csim

template <class T>
using stream = csim::fifo<T>;

template <class T>
inline void csim_depth(csim::fifo<T>& s, int depth) {
    s.set_depth(depth);
}
#else
template <class T>
using stream = hls::stream<T>;

template <class T>
inline void csim_depth(hls::stream<T>&, int) {}
#endif

// ---- ports ----------------------------------------------------------------------------

// Top-level input: N words of C scalars each from the scalar port stream.
template <class T, int N, int C>
void pack(hls::stream<T>& in, stream<word<T, C> >& y) {
    for (int i = 0; i < N; i++) {
        word<T, C> w;
        for (int ch = 0; ch < C; ch++) {
#pragma HLS PIPELINE II=1
            w.v[ch] = in.read();
        }
        y.write(w);
    }
}

// Top-level output: N words of C scalars each to the scalar port stream.
template <class T, int N, int C>
void unpack(stream<word<T, C> >& x, hls::stream<T>& out) {
    for (int i = 0; i < N; i++) {
        word<T, C> w = x.read();
        for (int ch = 0; ch < C; ch++) {
#pragma HLS PIPELINE II=1
            out.write(w.v[ch]);
        }
    }
}

// ---- structure ------------------------------------------------------------------------

// Reshape: the same elements in row-major order, regrouped from words of CIN values
// into words of COUT values (Flatten collects the whole tensor into one word). A word
// is written as soon as its last element has been read.
template <class Tin, class Tout, int NIN, int CIN, int COUT>
void regroup(stream<word<Tin, CIN> >& x, stream<word<Tout, COUT> >& y) {
    word<Tout, COUT> o;
#pragma HLS ARRAY_PARTITION variable=o.v complete
    for (int i = 0; i < NIN; i++) {
#pragma HLS PIPELINE II=1
        word<Tin, CIN> a = x.read();
        for (int ch = 0; ch < CIN; ch++) {
            const int e = i * CIN + ch;
            o.v[e % COUT] = a.v[ch];
            if (e % COUT == COUT - 1) y.write(o);
        }
    }
}

// ---- windows: line buffer + sliding window ------------------------------------------------

// Convolution / pooling over an H x W x C stream, padded by PT/PB/PL/PR zeros that are
// generated here. Positions of the padded grid are visited in raster order; an input
// word is read at every non-padded position. The line buffer holds the last KH - 1
// rows (padded width WP), the window registers the last KW columns of the KH rows. An
// output word is computed by Kernel and written at each position that completes a
// window on the stride grid (only valid output positions are emitted). II is the scan
// loop's initiation interval: 1, or the reuse factor R of a folded conv kernel (R cycles
// per window, as hls4ml's conv reuse).
template <class Kernel, class Tin, class Tout, int H, int W, int C, int KH, int KW, int SH,
          int SW, int PT, int PB, int PL, int PR, int F, int II = 1>
void window_stream(stream<word<Tin, C> >& x, stream<word<Tout, F> >& y) {
    const int HP = H + PT + PB, WP = W + PL + PR;
    const int LB = KH > 1 ? KH - 1 : 1;
    Tin lb[LB][WP][C];
#pragma HLS ARRAY_PARTITION variable=lb dim=1 complete
#pragma HLS ARRAY_PARTITION variable=lb dim=3 complete
    Tin win[KH][KW][C];
#pragma HLS ARRAY_PARTITION variable=win complete dim=0
    for (int r = 0; r < HP; r++) {
        for (int c = 0; c < WP; c++) {
#pragma HLS PIPELINE II=II
            word<Tin, C> px;
            if (inside<PT, H>(r) && inside<PL, W>(c)) {
                px = x.read();
            } else {
                for (int ch = 0; ch < C; ch++) px.v[ch] = 0;
            }
            for (int kh = 0; kh < KH; kh++) {
                for (int kw = 0; kw + 1 < KW; kw++) {
                    for (int ch = 0; ch < C; ch++) win[kh][kw][ch] = win[kh][kw + 1][ch];
                }
            }
            for (int ch = 0; ch < C; ch++) {
                for (int kh = 0; kh + 1 < KH; kh++) win[kh][KW - 1][ch] = lb[kh][c][ch];
                win[KH - 1][KW - 1][ch] = px.v[ch];
                if (KH > 1) {
                    for (int kh = 0; kh + 2 < KH; kh++) lb[kh][c][ch] = lb[kh + 1][c][ch];
                    lb[LB - 1][c][ch] = px.v[ch];
                }
            }
            if (r >= KH - 1 && c >= KW - 1 && (r - (KH - 1)) % SH == 0 && (c - (KW - 1)) % SW == 0) {
                Tin flat[KH * KW * C];
#pragma HLS ARRAY_PARTITION variable=flat complete
                for (int kh = 0; kh < KH; kh++) {
                    for (int kw = 0; kw < KW; kw++) {
                        for (int ch = 0; ch < C; ch++) flat[(kh * KW + kw) * C + ch] = win[kh][kw][ch];
                    }
                }
                word<Tout, F> o;
                Kernel::compute(flat, o.v, r - (KH - 1), c - (KW - 1));
                y.write(o);
            }
        }
    }
}

// Zero padding: the padded grid in raster order, reading at non-padded positions.
template <class Tin, class Tout, int H, int W, int C, int PT, int PB, int PL, int PR>
void pad_stream(stream<word<Tin, C> >& x, stream<word<Tout, C> >& y) {
    for (int r = 0; r < H + PT + PB; r++) {
        for (int c = 0; c < W + PL + PR; c++) {
#pragma HLS PIPELINE II=1
            word<Tout, C> o;
            if (inside<PT, H>(r) && inside<PL, W>(c)) {
                word<Tin, C> a = x.read();
                for (int ch = 0; ch < C; ch++) o.v[ch] = a.v[ch];
            } else {
                for (int ch = 0; ch < C; ch++) o.v[ch] = 0;
            }
            y.write(o);
        }
    }
}

// Cropping: every input word is read in raster order; those inside the kept
// (H - CT - CB) x (W - CL - CR) rectangle are written.
template <class Tin, class Tout, int H, int W, int C, int CT, int CB, int CL, int CR>
void crop_stream(stream<word<Tin, C> >& x, stream<word<Tout, C> >& y) {
    for (int r = 0; r < H; r++) {
        for (int c = 0; c < W; c++) {
#pragma HLS PIPELINE II=1
            word<Tin, C> a = x.read();
            if (inside<CT, H - CT - CB>(r) && inside<CL, W - CL - CR>(c)) {
                word<Tout, C> o;
                for (int ch = 0; ch < C; ch++) o.v[ch] = a.v[ch];
                y.write(o);
            }
        }
    }
}

// Permute: the whole D0 x D1 x D2 frame (words of D2 values) is read into a buffer, then
// written in the order (P0, P1, P2) as words of CO values (the last output axis).
template <class Tin, class Tout, int D0, int D1, int D2, int P0, int P1, int P2, int CO>
void transpose_stream(stream<word<Tin, D2> >& x, stream<word<Tout, CO> >& y) {
    Tin buf[D0 * D1 * D2];
    for (int w = 0; w < D0 * D1; w++) {
#pragma HLS PIPELINE II=1
        word<Tin, D2> a = x.read();
        for (int ch = 0; ch < D2; ch++) buf[w * D2 + ch] = a.v[ch];
    }
    for (int w = 0; w < D0 * D1 * D2 / CO; w++) {
#pragma HLS PIPELINE II=1
        word<Tout, CO> o;
        for (int ch = 0; ch < CO; ch++) {
            o.v[ch] = buf[transposed_index<D0, D1, D2, P0, P1, P2>(w * CO + ch)];
        }
        y.write(o);
    }
}

// Nearest-neighbour upsampling: each input row is read once (while its first copy is
// written) into a row buffer and written FH times, each word FW times.
template <class Tin, class Tout, int H, int W, int C, int FH, int FW>
void upsample_stream(stream<word<Tin, C> >& x, stream<word<Tout, C> >& y) {
    word<Tin, C> row[W];
#pragma HLS ARRAY_PARTITION variable=row dim=0 complete
    for (int r = 0; r < H; r++) {
        for (int fr = 0; fr < FH; fr++) {
            for (int c = 0; c < W; c++) {
                for (int fc = 0; fc < FW; fc++) {
#pragma HLS PIPELINE II=1
                    if (fr == 0 && fc == 0) row[c] = x.read();
                    word<Tout, C> o;
                    for (int ch = 0; ch < C; ch++) o.v[ch] = row[c].v[ch];
                    y.write(o);
                }
            }
        }
    }
}

// Global max / average over N words: one output word after the last input word.
template <class Tin, class Tout, int N, int C>
void global_max_stream(stream<word<Tin, C> >& x, stream<word<Tout, C> >& y) {
    Tin best[C];
#pragma HLS ARRAY_PARTITION variable=best complete
    for (int i = 0; i < N; i++) {
#pragma HLS PIPELINE II=1
        word<Tin, C> a = x.read();
        for (int ch = 0; ch < C; ch++) {
            if (i == 0 || a.v[ch] > best[ch]) best[ch] = a.v[ch];
        }
    }
    word<Tout, C> o;
    for (int ch = 0; ch < C; ch++) o.v[ch] = best[ch];
    y.write(o);
}

template <class Tin, class Tout, class Twide, int N, int C, int SF, int OF>
void global_avg_stream(stream<word<Tin, C> >& x, stream<word<Tout, C> >& y) {
    ap_slong s[C];
#pragma HLS ARRAY_PARTITION variable=s complete
    for (int ch = 0; ch < C; ch++) s[ch] = 0;
    for (int i = 0; i < N; i++) {
#pragma HLS PIPELINE II=1
        word<Tin, C> a = x.read();
        for (int ch = 0; ch < C; ch++) s[ch] += raw64(a.v[ch]);
    }
    word<Tout, C> o;
    for (int ch = 0; ch < C; ch++) o.v[ch] = div_cast<Tout, Twide, SF, OF, (long long)N>(s[ch]);
    y.write(o);
}

}  // namespace nnfab

#endif  // NNFAB_STREAM_H_
