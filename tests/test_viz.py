import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from tfcourse import viz  # noqa: E402


def teardown_function():
    plt.close("all")


def test_show_images_grid_titles_and_colors():
    fig = viz.show_images(
        np.zeros((5, 8, 8, 1)), titles=list("abcde"), ncols=3, title_colors=["red"] * 5, suptitle="S"
    )
    assert len(fig.axes) == 6  # 2 rows x 3 columns, the last one empty
    assert fig.axes[4].get_title() == "e" and fig.axes[4].title.get_color() == "red"
    assert fig._suptitle.get_text() == "S"


def test_show_images_rejects_bad_shapes():
    with pytest.raises(ValueError, match=r"Received: images.shape=\(8,\)"):
        viz.show_images(np.zeros(8))


def test_plot_history_labels_every_run_and_split():
    fig = viz.plot_history({"fit": {"loss": [1, 0.5], "val_loss": [1.1, 0.7], "accuracy": [0.5, 0.8]}})
    loss_ax, acc_ax = fig.axes
    assert loss_ax.get_xlabel() == "epoch" and loss_ax.get_title() == "Loss"
    assert [t.get_text() for t in loss_ax.get_legend().get_texts()] == ["fit (train)", "fit (validation)"]
    assert len(acc_ax.lines) == 1


def test_confusion_matrix_annotates_counts_and_checks_shape():
    fig = viz.plot_confusion_matrix(np.array([[3, 1], [0, 4]]), ["cat", "dog"])
    ax = fig.axes[0]
    assert sorted(t.get_text() for t in ax.texts) == ["0", "1", "3", "4"]
    assert ax.get_ylabel() == "true class" and [t.get_text() for t in ax.get_xticklabels()] == ["cat", "dog"]
    with pytest.raises(ValueError, match=r"Received: matrix.shape=\(3, 3\)"):
        viz.plot_confusion_matrix(np.eye(3, dtype=int), ["a", "b"])


def test_setup_plots_enlarges_fonts():
    viz.setup_plots(font_size=15)
    assert plt.rcParams["font.size"] == 15 and plt.rcParams["axes.titlesize"] == 17
    matplotlib.rcdefaults()


def test_draw_boxes_frames_the_same_pixels_in_every_format():
    fig, ax = plt.subplots()
    ax.imshow(np.zeros((40, 80)))
    # one box, columns 10 to 29 and rows 5 to 14, written by hand in four formats
    same = {
        "xyxy": [10, 5, 30, 15],
        "xywh": [10, 5, 20, 10],
        "yxyx": [5, 10, 15, 30],
        "rel_cxcywh": [20 / 80, 10 / 40, 20 / 80, 10 / 40],
    }
    for box_format, box in same.items():
        (rect,) = viz.draw_boxes(ax, [box], box_format=box_format)
        # matplotlib centres pixel i on i, so the rectangle starts half a pixel before it
        assert [float(v) for v in rect.get_xy()] == pytest.approx([9.5, 4.5]), box_format
        assert (rect.get_width(), rect.get_height()) == pytest.approx((20, 10)), box_format


def test_draw_boxes_needs_the_box_format(box_format_required):
    fig, ax = plt.subplots()
    ax.imshow(np.zeros((40, 80)))
    box_format_required(viz.draw_boxes, (ax, [[10, 5, 30, 15]]), {"color": "C2"})
