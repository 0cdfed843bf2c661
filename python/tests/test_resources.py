"""Resources: repeated calls do not grow the process, and lumos computes without the GIL."""
import gc
import os
import signal
import threading
import time

import numpy as np
import pytest

import lumos
from lumos import lime_image


def resident_mb():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096 / 2**20


def test_no_memory_growth_over_a_thousand_calls(tiny_model):
    rng = np.random.default_rng(0)
    picture = rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)
    batch = rng.normal(size=(4, 3, 16, 16)).astype(np.float32)
    cam = lumos.CAM(tiny_model, methods=["gradcam", "gradcam++", "eigencam"])
    explainer = lime_image.LimeImageExplainer()

    def calls(n):
        for _ in range(n):
            cam(batch)
            cam(picture, targets=[1])
            tiny_model.predict(batch)
            explanation = explainer.explain_instance(picture, tiny_model.predict, top_labels=2, num_samples=8,
                                                     batch_size=8, random_seed=1, progress_bar=False)
            explanation.get_image_and_mask(explanation.top_labels[0])
            lumos.mark_boundaries(picture, explanation.segments)
            lumos.explain(tiny_model, [picture], methods=["gradcam"])
        gc.collect()

    # One thread: on a busy machine, thousands of tiny parallel regions would mostly wait for the second.
    lumos.set_num_threads(1)
    try:
        calls(100)  # allocator pools and caches settle
        before = resident_mb()
        calls(1000)
        grown = resident_mb() - before
    finally:
        lumos.set_num_threads(2)
    # 1000 rounds of 7 calls; a leak of one small array per call would add well over 10 MB.
    assert grown < 10, f"resident memory grew by {grown:.1f} MB over 1000 rounds"


def test_a_thread_runs_while_a_cam_computes(resnet18, resnet18_input):
    cam = lumos.GradCAM(resnet18)
    image = resnet18_input[:1]
    cam(image)  # layer shapes and kernels ready
    ticks = []
    done = threading.Event()

    def count():
        while not done.is_set():
            ticks.append(time.perf_counter())
            time.sleep(0.001)

    counter = threading.Thread(target=count)
    counter.start()
    started = time.perf_counter()
    cam(image, aug_smooth=True)  # six passes
    finished = time.perf_counter()
    done.set()
    counter.join()
    during = [t for t in ticks if started < t < finished]
    gaps = np.diff([started, *during, finished])
    # With the GIL held for the whole call the counter would stop for all of it (one gap as long
    # as the call); released, it ticks every few milliseconds even on a busy machine.
    assert len(during) > 10, f"{len(during)} ticks during a {finished - started:.2f} s call"
    assert gaps.max() < 0.5 * (finished - started), f"longest pause {gaps.max():.3f} s of {finished - started:.3f} s"
    assert finished - started > 0.05  # long enough for the measurement to mean something


def test_a_python_classifier_runs_with_the_gil_and_other_threads_too(tiny_model):
    picture = np.random.default_rng(1).integers(0, 256, (16, 16, 3), dtype=np.uint8)
    results = {}

    def explain(name):
        results[name] = lime_image.LimeImageExplainer().explain_instance(
            picture, lambda images: tiny_model.predict(images), top_labels=1, num_samples=200, random_seed=2,
            progress_bar=False)

    threads = [threading.Thread(target=explain, args=(i,)) for i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # The same work in three threads at once (the model taking turns) gives the same explanation.
    assert results[0].local_exp == results[1].local_exp == results[2].local_exp


def test_ctrl_c_stops_a_long_call(resnet18):
    # Score-CAM on resnet18 runs 512 forwards in batches; a SIGINT sent just after the first
    # batch's progress must stop it between two batches, long before the last one (a progress
    # count, not a time, so a loaded machine cannot make it fail).
    pipeline = lumos.ExplainPipeline(resnet18, methods=["scorecam"], perturbation_batch=16)
    picture = np.random.default_rng(0).integers(0, 256, (224, 224, 3), dtype=np.uint8)
    steps = []

    def progress(image, images, method, done, total):
        if not steps:
            threading.Timer(0.05, lambda: os.kill(os.getpid(), signal.SIGINT)).start()
        steps.append((done, total))

    with pytest.raises(KeyboardInterrupt):
        pipeline.run([picture], progress=progress)
    done, total = steps[-1]
    assert total >= 512 and done <= total // 2, steps
