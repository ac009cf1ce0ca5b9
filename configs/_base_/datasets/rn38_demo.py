# The demos' synthetic VOC-layout dataset (mmrn38.synthetic.write_voc, as
# tools/demo.py and tools/wsss/demo.py write it): its classes and mmseg's
# plain BaseSegDataset, which reads the VOC layout with them (the generated
# dataset has none of VOC's classes). For configs/rn38_demo.py and
# configs/wsss/rn38_demo_pseudo.py, beside their VOC parent, which sets the
# pipelines and loaders: each adds its folder and labels to `dataset`.
# mmrn38.synthetic.class_names(7) and the VOC colour map
metainfo = dict(
    classes=('background', 'plain disc', 'striped square', 'dotted triangle',
             'plain ring', 'checked cross', 'dotted diamond'),
    palette=[[0, 0, 0], [128, 0, 0], [0, 128, 0], [128, 128, 0], [0, 0, 128],
             [128, 0, 128], [0, 128, 128]])
dataset = dict(
    type='BaseSegDataset',
    metainfo=metainfo,
    img_suffix='.jpg',
    seg_map_suffix='.png')
