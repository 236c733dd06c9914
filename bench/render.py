# Copyright 2026 lam_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""Render throughput of the simulated cameras (frames/s), single camera vs the full set.

Usage: python bench/render.py [--size 128] [--frames 300]
"""
import argparse
import time

from lam_ros.sim import CAMERA_NAMES, WidowXSim, make_task


def frames_per_second(sim: WidowXSim, cameras: list[tuple[str, bool]], size: int,
                      frames: int) -> float:
    for camera, depth in cameras:  # warm up the renderer (GL context, buffers)
        sim.render(camera, size, size, depth=depth)
    start = time.perf_counter()
    for _ in range(frames):
        sim.step(0.01)
        for camera, depth in cameras:
            sim.render(camera, size, size, depth=depth)
    return frames / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument('--size', type=int, default=128)
    parser.add_argument('--frames', type=int, default=300)
    args = parser.parse_args()
    sim = WidowXSim('wx250s', make_task('pick_place').objects)
    single = frames_per_second(sim, [('third_person', False)], args.size, args.frames)
    rgb_set = [(c, False) for c in CAMERA_NAMES]
    full = frames_per_second(sim, rgb_set, args.size, args.frames)
    full_depth = frames_per_second(sim, rgb_set + [('third_person', True)], args.size,
                                   args.frames)
    sim.close()
    print(f'{args.size}x{args.size}, physics stepped 10 ms between frames')
    print(f'one RGB camera (third_person):          {single:7.1f} frames/s')
    print(f'all RGB cameras ({len(CAMERA_NAMES)}):                  {full:7.1f} sets/s')
    print(f'all RGB + third_person depth:            {full_depth:7.1f} sets/s')


if __name__ == '__main__':
    main()
