"""The import direction of src/: each library floor imports only its own floor and those below.

Floors, bottom up: ``toolkit`` (the library); ``models`` and ``align`` (networks and the face
detector, built on toolkit); ``generative`` (on those); on top the scripts (``src/*.py``, the
``facenet``/``lfw`` fronts, and the modules of a package that run as scripts), which nothing
below imports. The imports are read with ``ast`` (every ``import`` statement, also inside
functions), so the test needs no TensorFlow. Calls that import a module by a name known
only at run time (``importlib.import_module``) are found too: the library makes none but
the ones DYNAMIC_IMPORTS_ALLOWED explains.
"""
import ast
import os
import re

from conftest import ROOT

SRC = os.path.join(ROOT, 'src')
TOP = 'scripts'
# What each library floor may import, besides the standard library and third-party packages.
ALLOWED = {
    'toolkit': {'toolkit'},
    'models': {'toolkit', 'models'},
    'align': {'toolkit', 'align'},
    'generative': {'toolkit', 'models', 'align', 'generative'},
}


def source_modules(src):
    """``{dotted module name: path}`` of every module under ``src``."""
    modules = {}
    for folder, _, files in os.walk(src):
        for name in files:
            if name.endswith('.py'):
                path = os.path.join(folder, name)
                parts = os.path.relpath(path, src)[:-3].split(os.sep)
                if parts[-1] == '__init__':
                    parts = parts[:-1]
                modules['.'.join(parts)] = path
    return modules


def is_script(path):
    """True for a module that runs as a script (it has an ``if __name__ == '__main__'`` block)."""
    with open(path, encoding='utf-8') as handle:
        tree = ast.parse(handle.read(), path)
    for node in tree.body:
        if isinstance(node, ast.If) and isinstance(node.test, ast.Compare):
            names = [getattr(n, 'id', None) for n in [node.test.left] + node.test.comparators]
            values = [getattr(n, 'value', None) for n in node.test.comparators]
            if '__name__' in names and '__main__' in values:
                return True
    return False


def floor_of(module, path):
    """The floor a module of src/ stands on: a package name of ALLOWED, or TOP."""
    package = module.split('.')[0]
    if package in ALLOWED and not is_script(path):
        return package
    return TOP


def imported_modules(path, module, known):
    """Modules of src/ that a file imports (``from p import m`` counts ``p.m`` when m is one)."""
    with open(path, encoding='utf-8') as handle:
        tree = ast.parse(handle.read(), path)
    package = module if path.endswith('__init__.py') else module.rpartition('.')[0]
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ''
            if node.level:
                anchor = package.split('.')[:len(package.split('.')) - node.level + 1]
                base = '.'.join(anchor + ([base] if base else []))
            found.add(base)
            found.update('%s.%s' % (base, alias.name) for alias in node.names)
    return {name for name in found if name in known}


def violations(src=SRC):
    known = source_modules(src)
    floors = {module: floor_of(module, path) for module, path in known.items()}
    wrong = []
    for module, path in sorted(known.items()):
        floor = floors[module]
        if floor == TOP:
            continue
        for target in sorted(imported_modules(path, module, known)):
            if floors[target] not in ALLOWED[floor]:
                wrong.append('%s (%s) imports %s (%s)' % (module, floor, target, floors[target]))
    return floors, wrong


def test_library_floors_import_only_downwards():
    floors, wrong = violations()
    assert wrong == []
    # The classification itself: the floors hold what the layout says.
    assert floors['toolkit.recognition.faces'] == 'toolkit'
    assert floors['align.detector'] == 'align'
    assert floors['align.align_dataset_mtcnn'] == TOP
    assert floors['generative.train_vae'] == TOP
    assert floors['generative.vae'] == 'generative'
    assert floors['models.inception_resnet_v1'] == 'models'
    assert floors['lfw'] == floors['facenet'] == floors['validate_on_lfw'] == TOP


def test_the_walk_finds_an_upward_import(tmp_path):
    """The checker sees imports inside functions, ``from package import module`` and scripts."""
    src = tmp_path / 'src'
    (src / 'toolkit').mkdir(parents=True)
    (src / 'align').mkdir()
    (src / 'toolkit' / '__init__.py').write_text('')
    (src / 'align' / '__init__.py').write_text('')
    (src / 'align' / 'boxes.py').write_text('')
    (src / 'align' / 'run.py').write_text("if __name__ == '__main__':\n    pass\n")
    (src / 'toolkit' / 'a.py').write_text('def f():\n    from align import boxes\n')
    (src / 'toolkit' / 'b.py').write_text('import lfw\n')
    (src / 'toolkit' / 'c.py').write_text('from . import a\nimport numpy\n')
    (src / 'align' / 'lib.py').write_text('from align import run\n')
    (src / 'lfw.py').write_text('from toolkit import a\n')
    _, wrong = violations(str(src))
    assert wrong == ['align.lib (align) imports align.run (scripts)',
                     'toolkit.a (toolkit) imports align (align)',
                     'toolkit.a (toolkit) imports align.boxes (align)',
                     'toolkit.b (toolkit) imports lfw (scripts)']


# Calls that import a module whose name is known only at run time (the ``ast`` walk above
# cannot see what they import). The library makes them only where this table says why; a
# network module named by --model_def or by a checkpoint is found by the scripts
# (``models.import_network``) and passed in.
DYNAMIC_IMPORTERS = {'import_module', '__import__', 'spec_from_file_location'}
DYNAMIC_IMPORTS_ALLOWED = {
    'toolkit.safe_load': "the restricted unpickler's find_class: only the admitted numpy and "
                         "scikit-learn (module, name) pairs reach it",
    'toolkit.tf_compat': "the graph-core import: only TensorFlow's own modules named in its "
                         "GRAPH_CORE and GRAPH_CORE_SUPPORT tables",
}


def dynamic_imports(path):
    """Line numbers of the calls in a file that import a module by a run-time name:
    ``importlib.import_module``, ``__import__``, ``spec_from_file_location``, also under
    another name (``from importlib import import_module as load``)."""
    with open(path, encoding='utf-8') as handle:
        tree = ast.parse(handle.read(), path)
    names = set(DYNAMIC_IMPORTERS)
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or '').startswith('importlib'):
            names.update(alias.asname or alias.name for alias in node.names
                         if alias.name in DYNAMIC_IMPORTERS)
    lines = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, 'id', None)
            if name in names:
                lines.append(node.lineno)
    return sorted(lines)


def library_dynamic_imports(src=SRC):
    """``{toolkit module: [line, ...]}`` of the dynamic imports in the library floor."""
    found = {}
    for module, path in source_modules(src).items():
        if floor_of(module, path) == 'toolkit':
            lines = dynamic_imports(path)
            if lines:
                found[module] = lines
    return found


def test_the_library_imports_no_module_by_a_run_time_name():
    found = library_dynamic_imports()
    unexplained = sorted('%s line %d' % (module, line) for module, lines in found.items()
                         if module not in DYNAMIC_IMPORTS_ALLOWED for line in lines)
    assert unexplained == []
    assert sorted(found) == sorted(DYNAMIC_IMPORTS_ALLOWED)  # no stale entry


def test_the_walk_finds_a_dynamic_import(tmp_path):
    src = tmp_path / 'src'
    (src / 'toolkit').mkdir(parents=True)
    (src / 'toolkit' / '__init__.py').write_text('')
    (src / 'toolkit' / 'a.py').write_text(
        'import importlib\n\ndef f(model_def):\n    return importlib.import_module(model_def)\n')
    (src / 'toolkit' / 'b.py').write_text(
        'from importlib import import_module as load\nnet = load("models.dummy")\n'
        'other = __import__("models")\n')
    (src / 'toolkit' / 'c.py').write_text('import importlib.metadata\n'
                                          'v = importlib.metadata.version("numpy")\n')
    (src / 'run.py').write_text('import importlib\nimportlib.import_module("models.dummy")\n')
    assert library_dynamic_imports(str(src)) == {'toolkit.a': [4], 'toolkit.b': [2, 3]}


BOOTSTRAP = """# Bootstrap, the same in every script outside src/'s top folder: put src/ first on sys.path.
_PARENT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SRC_DIR = _PARENT if os.path.basename(_PARENT) == 'src' else os.path.join(_PARENT, 'src')
if SRC_DIR not in sys.path:
    sys.path.insert(0, SRC_DIR)
"""


def python_files(*folders):
    for folder in folders:
        for name in sorted(os.listdir(os.path.join(ROOT, folder))):
            if name.endswith('.py'):
                yield os.path.join(folder, name)


def test_one_sys_path_bootstrap():
    """Scripts outside src/'s top folder put src/ on the path with the same block; the
    scripts in src/ itself (Python puts their folder first) and the libraries do not."""
    outside = list(python_files('src/align', 'src/generative', 'util', 'tmp', 'contributed'))
    with_block = []
    for relative in outside + list(python_files('src')):
        with open(os.path.join(ROOT, relative), encoding='utf-8') as handle:
            text = handle.read()
        if BOOTSTRAP in text:
            with_block.append(relative)
        assert not re.search(r'sys\.path\s*[.\[=+]', text.replace(BOOTSTRAP, '')), relative
    scripts = [relative for relative in outside if is_script(os.path.join(ROOT, relative))]
    assert set(scripts) <= set(with_block)
    assert len(scripts) >= 15
    assert not [relative for relative in with_block if relative.count('/') == 1
                and relative.startswith('src/')]
    # The block's two cases: src/<package>/x.py (its parent is src) and <folder>/x.py.
    for relative, expected in (('src/align/x.py', 'src'), ('util/x.py', 'src')):
        namespace = {'os': os, 'sys': type('S', (), {'path': []}),
                     '__file__': os.path.join(ROOT, relative)}
        exec(BOOTSTRAP, namespace)  # noqa: S102 - the test's own constant
        assert namespace['SRC_DIR'] == os.path.join(ROOT, expected)
        assert namespace['sys'].path == [os.path.join(ROOT, expected)]
